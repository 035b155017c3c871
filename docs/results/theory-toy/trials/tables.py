import json
print("| tag | seed | overrides on toy-grid25 | modes (≥1 rule) | modes (1/5-share rule) | HQ | rKL | train CPU s |")
print("|---|---|---|---|---|---|---|---|")
for l in open("results.jsonl"):
    if not l.startswith("{"): continue
    r = json.loads(l)
    m20 = r.get("modes20", "–")
    note = "" if "modes20" in r else " (old 1/5 rule)"
    print(f"| {r['tag']} | {r['seed']} | `{' '.join(r['ov']) or '(preset)'}` | {r['modes']:.0f}{note} | {m20} | {100*r['hq']:.1f}% | {r['rkl']:.3f} | {r['cpu']} |")
print()
print("| tag | preset | overrides | steps | JSD, p_g of G (or EMA) | max abs(D-1/2) 99% | JSD from tails beyond 2.5σ | train CPU s |")
print("|---|---|---|---|---|---|---|---|")
for l in open("fig1.jsonl"):
    r = json.loads(l); f = r["final"]
    je = f.get("jsd_ema")
    tail = f.get("parts", {}).get("tail25", "–")
    print(f"| {r['tag']} | | `{' '.join(r['ov'])}` | {f['step']} | {f['jsd']:.4f} (EMA {je if je is not None else '–'}) | {f['dev']:.4f} | {tail} | {r['cpu']} |")
