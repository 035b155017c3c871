# TV critic alone, G held fixed: how close does a critic get to the optimum (bound F vs the
# true TV, and G's saddle gradient vs the quadrature's) under a given parametrisation/optimiser?
# usage: o5_tvcritic.py MU SIGMA '{"steps": 2000, "out": "tanh"|"softsign", "opt": "adam"|"sgd", "lr": 0.002, "batch": 2048, "quad": false, "net": "mlp"|"spline", "wd": 0.0, "show": 0}'
import sys, json, math, time, torch
torch.set_num_threads(1); torch.manual_seed(0)
from gankit.reproduce.fgan_gaussian import *
mu0, s0 = float(sys.argv[1]), float(sys.argv[2]); kw = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
steps, out, lr, batch = kw.get("steps", 2000), kw.get("out", "tanh"), kw.get("lr", 0.002), kw.get("batch", 2048)
D = Spline1D(step=kw.get("h", 0.1)) if kw.get("net") == "spline" else Critic1D(quadratic=kw.get("quad", False))
opt = (torch.optim.Adam(D.parameters(), lr, betas=tuple(kw.get("betas", (0.5, 0.999))), weight_decay=kw.get("wd", 0.0)) if kw.get("opt", "adam") == "adam"
       else torch.optim.SGD(D.parameters(), lr, momentum=kw.get("momentum", 0.0)))
def T(x):
    u = D(x)
    return 0.5 * torch.tanh(u) if out == "tanh" else 0.5 * u / (1 + u.abs())
x = sample_mixture(200000, 7)
mu = torch.tensor(mu0, requires_grad=True); ls = torch.tensor(math.log(s0), requires_grad=True)
t0 = time.time()
def report(i):
    with torch.no_grad():
        F = T(x[:100000]).mean() - T(mu + ls.exp() * torch.randn(100000, 1)).mean()
    f = mu + ls.exp() * torch.randn(200000, 1)
    g = torch.autograd.grad(-T(f).mean(), [mu, ls])
    print(i, "F %.4f" % F, "grad (%.4f, %.4f)" % tuple(float(v) for v in g), "%.0fs" % (time.time() - t0), flush=True)
for i in range(steps):
    r = x[torch.randint(0, len(x), (batch,))]; f = (mu + ls.exp() * torch.randn(batch, 1)).detach()
    loss = -(T(r).mean() - T(f).mean()); opt.zero_grad(); loss.backward(); opt.step()
    if (i + 1) % max(steps // 4, 1) == 0: report(i + 1)
h = 1e-3
fd = [(divergence_to_gaussian("tv", mu0 + h, s0) - divergence_to_gaussian("tv", mu0 - h, s0)) / (2 * h),
      (divergence_to_gaussian("tv", mu0, s0 * math.exp(h)) - divergence_to_gaussian("tv", mu0, s0 * math.exp(-h))) / (2 * h)]
print(kw, "true TV %.4f" % divergence_to_gaussian("tv", mu0, s0), "true grad (%.4f, %.4f)" % tuple(fd))
if kw.get("show"):
    xs = torch.linspace(-5, 6, 23).reshape(-1, 1)
    lp = mixture_log_pdf(xs.numpy().ravel()); lq = -0.5 * ((xs.numpy().ravel() - mu0) / s0) ** 2 - math.log(s0 * math.sqrt(2 * math.pi))
    with torch.no_grad():
        for xv, t, a, b in zip(xs.ravel().tolist(), T(xs).tolist(), lp, lq):
            print("x %5.2f T %+.3f sign(p-q) %+d" % (xv, t, 1 if a > b else -1))
