"""Exploration script behind the goodfellow2014-fast recipe (kept as a record, not library code).

A self-contained copy of the paper's MNIST set-up used to compare optimiser recipes and EMA
settings quickly; the library's own runs are what BENCHMARKS.md reports as results.
Usage: [TH=threads] [LRDECAY=f] [DECAYS=a,b,c] [WARMUP=0|1] [BF16=0|1] [BS=batch] python bench/explore/goodfellow_recipes.py
       RECIPE STEPS EVAL_EVERY ARGS...   (RECIPE: paper | sgd LR MOM | adam LR BETA1 | mixed LRG LRD MOM)
Runs recorded in BENCHMARKS.md: sgd 0.1 0.7 with LRDECAY=1.0001387, WARMUP=0 (DECAYS=0.999,0.9995,0.9998)
and WARMUP=1 (DECAYS=0.9998,0.9999,0.99995); paper; adam 2e-4 0.5; adam 1e-4 0.5; mixed 1e-4 0.1 0.7.
Second session (TH=1, under load from two other 1-thread jobs, so t= is not a speed figure):
  TH=1 BF16=1 LRDECAY=1.0001386 WARMUP=1 DECAYS=0.9998,0.9999 ... sgd 20000 2500 0.1 0.7
      -> bf16-sgd-m0.7-lrhalve5k-ema-warmup.log (stopped at 10k: EMA 150, as fp32's 151.8)
  TH=1 BF16=1 WARMUP=1 DECAYS=0.999,0.9995,0.9998 ... sgd 30000 5000 0.1 0.7
      -> bf16-sgd-m0.7-const-ema-warmup.log (constant lr: EMA 0.9998 160 @10k, 184 @20k, 197 @30k)
"""
import gzip, pickle, time, math, sys, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(__import__('os').environ.get('TH','2')))
from gankit.data import load_dataset
_ds = load_dataset("mnist")
tx, vx, sx = (_ds.train.x.reshape(-1, 784), _ds.valid.x.reshape(-1, 784), _ds.test.x.reshape(-1, 784))
print(tx.shape, vx.shape, sx.shape, tx.dtype, tx.max())
recipe = sys.argv[1]; steps = int(sys.argv[2]); evalevery=int(sys.argv[3])
torch.manual_seed(0)
class Maxout(nn.Module):
    def __init__(s,i,u,p): super().__init__(); s.l=nn.Linear(i,u*p); s.u=u; s.p=p
    def forward(s,x): return s.l(x).view(-1,s.u,s.p).amax(-1)
def uinit(m, r):
    for p in m.parameters():
        if p.dim()==2: nn.init.uniform_(p,-r,r)
        else: nn.init.zeros_(p)
G = nn.Sequential(nn.Linear(100,1200),nn.ReLU(),nn.Linear(1200,1200),nn.ReLU(),nn.Linear(1200,784))
uinit(G,.05)
m = tx.mean(0).clamp(1e-3,1-1e-3); G[-1].bias.data = torch.log(m/(1-m))
D = nn.Sequential(nn.Dropout(0.2),Maxout(784,240,5),nn.Dropout(0.5),Maxout(240,240,5),nn.Dropout(0.5),nn.Linear(240,1))
uinit(D,.005)
B=int(__import__('os').environ.get('BS','100'))
BF16=__import__('os').environ.get('BF16','0')=='1'
import copy
decays=[float(d) for d in __import__('os').environ.get('DECAYS','0.9998,0.9999,0.99995').split(',')]; Ges=[copy.deepcopy(G) for _ in decays]; LRDECAY=float(__import__('os').environ.get('LRDECAY','1.0')); WARMUP=__import__('os').environ.get('WARMUP','1')=='1'
if recipe=='paper':
    og = torch.optim.SGD(G.parameters(), lr=.1, momentum=.5); od = torch.optim.SGD(D.parameters(), lr=.1, momentum=.5)
elif recipe=='sgd':
    lr=float(sys.argv[4]); mom=float(sys.argv[5]); lr_base=lr
    og = torch.optim.SGD(G.parameters(), lr=lr, momentum=mom); od = torch.optim.SGD(D.parameters(), lr=lr, momentum=mom)
elif recipe=='mixed':
    lrg=float(sys.argv[4]); lrd=float(sys.argv[5]); mom=float(sys.argv[6]); B=int(__import__('os').environ.get('BS','100'))
    og = torch.optim.Adam(G.parameters(), lr=lrg, betas=(.5,.999)); od = torch.optim.SGD(D.parameters(), lr=lrd, momentum=mom)
else:
    lr=float(sys.argv[4]); b1=float(sys.argv[5])
    og = torch.optim.Adam(G.parameters(), lr=lr, betas=(b1,.999)); od = torch.optim.Adam(D.parameters(), lr=lr, betas=(b1,.999))
def parzen(samples, data, sigmas):
    # returns per-sigma mean ll
    d = data.shape[1]
    s2 = (samples**2).sum(1)
    out = torch.zeros(len(sigmas), data.shape[0])
    for i in range(0, data.shape[0], 500):
        x = data[i:i+500]
        dist = (x**2).sum(1,keepdim=True) - 2*x@samples.T + s2
        for j,sg in enumerate(sigmas):
            out[j,i:i+500] = torch.logsumexp(-dist/(2*sg*sg),1) - math.log(samples.shape[0]) - d*math.log(sg*math.sqrt(2*math.pi))
    return out
def evaluate(G):
    G.eval()
    with torch.no_grad(): s = torch.sigmoid(G(torch.randn(10000,100)))
    G.train()
    sig = np.logspace(-1,0,10)
    v = parzen(s.double(), vx[:1000].double(), sig).mean(1)
    j = int(v.argmax()); 
    t = parzen(s.double(), sx.double(), [sig[j]])[0]
    return sig[j], t.mean().item(), (t.std()/100).item()
t0=time.time(); perm=torch.randperm(50000); pos=0
for step in range(1,steps+1):
    if recipe=='paper':
        lr = max(.1/1.000004**step, 1e-6); ep = step/500; mom = .5 + (.7-.5)*min(max(ep-1,0)/249,1)
        for o in (og,od):
            for g in o.param_groups: g['lr']=lr; g['momentum']=mom
    if pos+B>50000: perm=torch.randperm(50000); pos=0
    x = tx[perm[pos:pos+B]]; pos+=B
    z = torch.randn(B,100)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=BF16):
        with torch.no_grad(): fake = torch.sigmoid(G(z))
        lr_ = D(x); lf = D(fake)
        ld = (0.5 if recipe in ('paper','sgd','mixed') else 1.0)*(F.softplus(-lr_.float()).mean()+F.softplus(lf.float()).mean())
    od.zero_grad(); ld.backward(); od.step()
    for p in D.parameters(): p.requires_grad_(False)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=BF16):
        lg = F.softplus(-D(torch.sigmoid(G(torch.randn(B,100)))).float()).mean()
    og.zero_grad(); lg.backward(); og.step()
    with torch.no_grad():
        for Ge,dc in zip(Ges,decays): torch._foreach_lerp_(list(Ge.parameters()), list(G.parameters()), 1-(min(dc,(1+step)/(10+step)) if WARMUP else dc))
    if LRDECAY!=1.0:
        for o in (og,od):
            for g in o.param_groups: g['lr']=lr_base/LRDECAY**step
    for p in D.parameters(): p.requires_grad_(True)
    if step%evalevery==0:
        te=time.time(); r=evaluate(G); res=[evaluate(Ge) for Ge in Ges]
        print(f"step {step} t={time.time()-t0:.0f}s ld={ld.item():.3f} lg={lg.item():.3f} lr={og.param_groups[0]['lr']:.4f} raw={r[1]:.1f}±{r[2]:.1f} ema:" + " ".join(f"{dc}:{re[1]:.1f}(s{re[0]:.3f})" for dc,re in zip(decays,res)) + f" evalt={time.time()-te:.1f}", flush=True)
