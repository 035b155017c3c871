import numpy as np, math, torch
torch.set_num_threads(1)
from gankit.reproduce.fgan_gaussian import divergence_to_gaussian, direct_minimiser
for name in ["neyman","tv"]:
    best=[]
    for mu in np.linspace(-1.5,1.5,31):
        for s in np.linspace(0.4,1.8,29):
            best.append((divergence_to_gaussian(name,mu,s),mu,s))
    best.sort()
    print(name, "grid best", [(round(a,4),round(b,2),round(c,2)) for a,b,c in best[:6]])
    for st in [(0,1),(-1,0.6),(1,1),(1.5,0.9),(0,1.5),(-0.5,1.2),(0.5,0.8)]:
        print(name, st, [round(v,4) for v in direct_minimiser(name, start=st)])
