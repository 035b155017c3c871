"""Scratch: train a toy preset with overrides for some seeds, print mode metrics."""
import sys, time, json, torch
torch.set_num_threads(1)
from pathlib import Path
from gankit.config import load_config
from gankit.training.run import train
from gankit.reproduce.toy2d import score_run
preset, tag, seeds = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",")]
ov = sys.argv[4:]
for s in seeds:
    cfg = load_config(preset, [f"seed={s}"] + ov)
    d = Path(f"/work/main/runs/explore/{tag}/seed-{s}")
    t = time.time(); tc = time.process_time()
    train(cfg, d, progress=False)
    f = score_run(d, s, 1.0)
    from gankit.metrics.modes import mode_stats
    from gankit.data.toy import toy_spec
    from gankit.training.run import load_generator, sample_noise
    from gankit.training.build import generate
    G, c2, ctx2, _ = load_generator(d)
    sp = toy_spec(c2.data.name)
    xs = sp.to_physical(generate(G, 2500, sample_noise(c2, ctx2, s + 10_000), c2.data.pixel_range))
    st = mode_stats(xs, sp, min_fraction=0.2); f["modes20"] = st.modes; f["minc"] = min(st.counts)
    print(json.dumps(dict(tag=tag, seed=s, modes=f["modes2500"], modes20=f["modes20"], minc=f["minc"], hq=round(f["hq_fraction2500"], 4), rkl=round(f["reverse_kl2500"], 4), wall=round(time.time()-t, 1), cpu=round(time.process_time()-tc, 1), ov=ov)), flush=True)
