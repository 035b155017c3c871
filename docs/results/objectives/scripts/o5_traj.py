# trajectory of an f-GAN 1-D fit: (mu, sigma), the critic's bound on the batch, the true divergence
import sys, json, torch, math
torch.set_num_threads(1)
from gankit.reproduce import fgan_gaussian as fg
from gankit.training import algorithm1 as a1
name = sys.argv[1]; kw = json.loads(sys.argv[2])
every = int(kw.pop("every", 250))
orig = fg.algorithm1
def traced(state, steps, cbs):
    def cb(s, st):
        if st.step % every == 0:
            mu, sd = float(s.G.mu.detach()), float(torch.exp(s.G.log_sigma.detach()))
            print(st.step, "mu %.3f sigma %.3f" % (mu, sd), "F %.4f" % -float(st.d_loss), "D_f %.4f" % fg.divergence_to_gaussian(name, mu, sd, grid=fg.np.linspace(-12,12,2401)), flush=True)
    return orig(state, steps, list(cbs) + [cb])
fg.algorithm1 = traced
print(fg.fgan_fit(name, 0, fg.FitSettings(**kw)))
