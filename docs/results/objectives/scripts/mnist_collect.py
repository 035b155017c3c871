"""Collects the MNIST preset table of docs/results/objectives.md from the files that
mnist_table.sh writes (OUT_ROOT/<preset>/config.yaml, <preset>.eval.json, <preset>.time,
<preset>/metrics.jsonl) and prints it as markdown; also writes OUT_ROOT/table.json.

    .venv/bin/python docs/results/objectives/scripts/mnist_collect.py [OUT_ROOT]
"""
import json
import math
import sys
from pathlib import Path

import yaml

ORDER = ["fgan-kl", "fgan-reverse-kl", "fgan-pearson", "fgan-neyman", "fgan-hellinger",
         "fgan-jeffrey", "fgan-js", "fgan-gan", "fgan-tv", "wgan", "wgan-gp", "hinge", "lsgan",
         "defaults"]  # defaults: the non-saturating GAN on the same recipe, a control row


def objective(cfg):
    o = cfg["objective"]
    args = o.get("args") or {}
    if o["name"] == "fgan":
        return f"f-GAN {args.get('divergence')}, {args.get('generator_loss', 'alternative')} G loss"
    if args:
        return o["name"] + " (" + ", ".join(f"{k} {v}" for k, v in args.items()) + ")"
    return o["name"]


def nets(cfg):
    g, d = cfg["generator"], cfg["discriminator"]
    dargs = d.get("args") or {}
    drop = "no dropout" if dargs.get("input_dropout") == 0.0 and dargs.get("hidden_dropout") == 0.0 else "dropout"
    return f"G {g['name']}, D {d['name']} ({drop})"


def optimiser(cfg):
    def one(o):
        s = f"{o['name']} {o['lr']:g}"
        if o["name"] == "adam":
            s += f" ({o['betas'][0]:g}, {o['betas'][1]:g})"
        return s

    g, d = one(cfg["optim_g"]), one(cfg["optim_d"])
    both = g if g == d else f"G {g} / D {d}"
    return f"{both}, k {cfg['train']['k']}, batch {cfg['data']['batch_size']}"


def last_record(run):
    p = run / "metrics.jsonl"
    if not p.exists():
        return {}
    lines = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    return lines[-1] if lines else {}


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/o5m")
    rows, out = [], []
    print("| preset | objective | nets | optimiser | steps | train wall (s) | Parzen LL ± s.e. (sigma) | cfd10k | class KL | classes covered |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in ORDER:
        run = root / p
        t = root / f"{p}.time"
        if not t.exists():
            print(f"| {p} | | | | not run | | | | | |")
            continue
        tm = json.loads(t.read_text())
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        ev = json.loads((root / f"{p}.eval.json").read_text()) if (root / f"{p}.eval.json").exists() else {}
        steps = ev.get("step", "?")
        note = "" if tm["train_rc"] == 0 else f" (stopped, rc {tm['train_rc']})"
        if ev:
            parzen = f"{ev['parzen10k_mean']:.1f} ± {ev['parzen10k_se']:.1f} ({ev['parzen10k_sigma']:.3f})"
            cfd = f"{ev['cfd10k']:.1f}"
            kl = f"{ev['classes10k_kl']:.3f}"
            cov = f"{int(ev['classes10k_covered'])}"
        else:
            parzen = cfd = kl = cov = "eval failed"
        print(f"| {p} | {objective(cfg)} | {nets(cfg)} | {optimiser(cfg)} | {steps}{note} | {tm['train_s']:.0f} | {parzen} | {cfd} | {kl} | {cov} |")
        out.append({"preset": p, "objective": objective(cfg), "nets": nets(cfg), "optimiser": optimiser(cfg),
                    "time": tm, "eval": ev, "last_record": last_record(run)})
    (root / "table.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
