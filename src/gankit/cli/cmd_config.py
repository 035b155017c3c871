"""``gankit config PRESET [key=value ...]``: the resolved config, as YAML, without training."""
from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="print a preset's resolved config (with overrides) as YAML")
    p.add_argument("preset", help="preset name (see 'gankit presets') or a YAML file")
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. train.k=3")
    p.add_argument("--dry-run", action="store_true", help="as 'gankit train --dry-run' would resolve it")


def run(args: argparse.Namespace) -> int:
    import yaml

    from gankit.config import DRY_RUN_OVERRIDES, load_config

    cfg = load_config(args.preset, (DRY_RUN_OVERRIDES if args.dry_run else []) + list(args.overrides))
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    return 0
