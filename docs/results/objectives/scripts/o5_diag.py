import torch, math, sys
torch.set_num_threads(1); torch.manual_seed(0)
from gankit.reproduce.fgan_gaussian import *
from gankit.objectives.fgan import get_divergence, variational_bound
name=sys.argv[1]; mu0, s0 = float(sys.argv[2]), float(sys.argv[3]); steps=int(sys.argv[4]); quad = len(sys.argv)>5
div=get_divergence(name)
x = sample_mixture(200000, 7)
D = Critic1D(quadratic=quad); opt=torch.optim.Adam(D.parameters(), 0.002, betas=(0.5,0.999))
mu=torch.tensor(mu0, requires_grad=True); ls=torch.tensor(math.log(s0), requires_grad=True)
for i in range(steps):
    r = x[torch.randint(0,len(x),(2048,))]; f = (mu+ls.exp()*torch.randn(2048,1)).detach()
    loss = -variational_bound(div, D(r), D(f)); opt.zero_grad(); loss.backward(); opt.step()
    if i % (steps//4) == 0 or i==steps-1: print(i, "F", round(-loss.item(),4))
gs=[]
for j in range(100):
    f = mu+ls.exp()*torch.randn(4096,1)
    g = torch.autograd.grad(-div.conjugate_of_activation(D(f)).mean(), [mu, ls]); gs.append(torch.stack(g))
g=torch.stack(gs); print("G grad (mu, logsigma)", g.mean(0).tolist(), "se", (g.std(0)/10).tolist())
h=1e-3
fd=[(divergence_to_gaussian(name,mu0+h,s0)-divergence_to_gaussian(name,mu0-h,s0))/(2*h),
    (divergence_to_gaussian(name,mu0,s0*math.exp(h))-divergence_to_gaussian(name,mu0,s0*math.exp(-h)))/(2*h)]
print("true grad", fd, "D_f", divergence_to_gaussian(name,mu0,s0))
