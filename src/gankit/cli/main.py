"""The ``gankit`` command line. Bad input gives one line naming the problem and exit code 2;
``--debug`` shows the traceback instead."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from gankit.cli import (cmd_arithmetic, cmd_classifier, cmd_classify, cmd_config, cmd_export, cmd_interpolate, cmd_report,
                        cmd_translate)
from gankit.config import DRY_RUN_OVERRIDES, DRY_RUN_SCALE, GENERATOR_WEIGHTS
from gankit.errors import DivergenceError, GankitError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(2, f"gankit: error: {_printable(message)} (see '{self.prog} --help')\n")


class _CommandParser(_Parser):
    """A subcommand's parser: options and positionals in any order, so overrides may follow
    options (``gankit train PRESET --out DIR train.k=3``)."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        # parse_known_intermixed_args calls parse_known_args for each of its two passes
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gankit", description="Train, evaluate and study generative adversarial nets.")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors (accepted after the subcommand too)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    t = sub.add_parser("train", help="train a preset into a run directory")
    t.add_argument("preset", help="preset name (see 'gankit presets') or a YAML file")
    t.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. train.k=3")
    t.add_argument("--out", required=True, help="run directory (resumed if it holds a run)")
    t.add_argument(
        "--resume",
        choices=["auto", "never"],
        default="auto",
        help="auto: continue --out from its newest good checkpoint (default); never: refuse an existing --out",
    )
    t.add_argument("--dry-run", action="store_true", help="a few steps on tiny data, to check the set-up")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--nproc", type=_positive_int, default=None,
                   help="train data-parallel in N processes on this machine (runs torchrun; see docs/usage/gpu-ddp.md)")

    s = sub.add_parser("sample", help="draw samples from a run or checkpoint")
    s.add_argument("run", help="run directory or checkpoint file")
    s.add_argument("--n", type=_positive_int, default=100)
    s.add_argument("--out", required=True, help=".png for a grid, .npy for an array [N, C, H, W] in [0, 1], "
                   "DIR/ (ending in /) for a folder of one PNG per sample (for external FID tools)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, default=None, help="class label for conditional models")

    e = sub.add_parser("eval", help="evaluate a run with registered metrics")
    e.add_argument("run", help="run directory or checkpoint file")
    e.add_argument("--metric", action="append", required=True, help="metric name, e.g. parzen10k (repeatable)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", default=None, help="also write the figures to this JSON file (they always go into RUN/eval.json, by step)")
    e.add_argument("--dry-run", action="store_true", help=f"scale sample counts by {DRY_RUN_SCALE}")
    e.add_argument("--weights", choices=GENERATOR_WEIGHTS, default="average",
                   help="sample from the run's average of G's weights (default; G's own where it keeps none) or G's own "
                        "weights; test_error likewise classifies with D's average (train.d_ema_decay) or D's own")

    r = sub.add_parser("reproduce", help="reproduce a paper's figure or table")
    r.add_argument("name", help="what to reproduce (see 'gankit reproduce list')")
    r.add_argument("--out", default=None, help="output directory (default runs/NAME)")
    r.add_argument("--full", action="store_true", help="train as long as the paper did")
    r.add_argument("--paper-exact", action="store_true", help="train as the paper's released code does (each reproduction says what that is)")
    r.add_argument("--dry-run", action="store_true", help="seconds-long smoke run of the whole pipeline")
    r.add_argument("--seed", type=int, default=0, help="first seed")
    r.add_argument("--seeds", type=_positive_int, default=None, help="how many seeds from --seed (default: the reproduction's own)")
    r.add_argument("--threads", type=_positive_int, default=None, help="torch threads (default: torch's choice)")
    r.add_argument("--jobs", type=_positive_int, default=None,
                   help="runs trained and scored at once, each in its own process with an equal share of the threads "
                        "(default: the reproduction's own, 1 for most)")

    sub.add_parser("presets", help="list presets, each with its one-line description")
    sub.add_parser("metrics", help="list metrics")
    for module in MODULE_COMMANDS.values():
        module.add_parser(sub)
    return p


def cmd_train(a: argparse.Namespace) -> int:
    from gankit.config import load_config
    from gankit.training.parallel import check_job, check_precision, launched_by_torchrun, resolve_device
    from gankit.training.run import train

    # the user's settings after the dry run's: train.steps=40 --dry-run trains 40
    overrides = (DRY_RUN_OVERRIDES if a.dry_run else []) + list(a.overrides)
    cfg = load_config(a.preset, overrides)  # checked here first: a bad config is one line, not N
    if a.nproc is not None:
        if launched_by_torchrun():
            raise GankitError("--nproc: this process was already started by torchrun; give one or the other")
        check_job(cfg.train.device, a.nproc, cfg.train.sync_batchnorm, local_rank=a.nproc - 1)  # the last must exist too
        check_precision(cfg.train.precision, resolve_device(cfg.train.device))
        return _torchrun(a)
    state = train(cfg, a.out, resume=a.resume, progress=False if a.no_progress else None)
    if state.shard.main:  # in a data-parallel job the others wrote nothing
        print(f"trained {state.step} steps into {a.out}" + (" (dry run: tiny data, says nothing about quality)" if cfg.dry_run else ""))
        from gankit.report import report_after_training

        report_after_training(Path(a.out))
    return 0


def _torchrun(a: argparse.Namespace) -> int:
    """``gankit train --nproc N ...``: the same command under ``torchrun --standalone``, whose
    exit code it returns (a process that dies ends them all; see docs/usage/gpu-ddp.md)."""
    import subprocess

    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}",
            "-m", "gankit", "train", a.preset, *a.overrides, "--out", a.out, "--resume", a.resume]
    argv += ["--dry-run"] * a.dry_run + ["--no-progress"] * a.no_progress + ["--debug"] * a.debug
    try:
        return subprocess.run(argv).returncode
    except KeyboardInterrupt:  # torchrun passes Ctrl-C on to the processes; they save and stop
        return 130


MAX_GRID = 10_000  # samples in one .png grid; more go to .npy


def cmd_sample(a: argparse.Namespace) -> int:
    from gankit.images import save_grid
    from gankit.training.build import generate
    from gankit.training.generator import iter_samples, load_generator, sample_noise, sample_shape, write_npy
    from gankit.training.translation import refuse_translator

    if a.out.endswith(("/", "\\")) or Path(a.out).is_dir():
        return sample_folder(a)
    out = Path(a.out)
    if out.suffix not in (".png", ".npy"):
        raise GankitError(f"--out {a.out}: expected a .png or .npy file name")
    if out.suffix == ".png" and a.n > MAX_GRID:
        raise GankitError(f"--n {a.n}: a .png grid holds at most {MAX_GRID} samples; write more as .npy")
    G, cfg, context, step = load_generator(a.run)
    refuse_translator(a.run, context)
    if a.label is not None:
        k = context.get("num_classes", 0)
        if not k:
            raise GankitError(f"--label: {a.run} is not a conditional model")
        if not 0 <= a.label < k:
            raise GankitError(f"--label {a.label}: expected a class in 0..{k - 1}")
    if out.suffix == ".npy":
        shape = sample_shape(G, context["noise_dim"], context.get("num_classes", 0))
        write_npy(out, a.n, shape, lambda: iter_samples(G, a.n, sample_noise(cfg, context, a.seed), cfg.data.pixel_range, a.label))
    else:
        import torch

        labels = None if a.label is None else torch.full((a.n,), a.label, dtype=torch.long)
        x = generate(G, a.n, sample_noise(cfg, context, a.seed), cfg.data.pixel_range, labels)
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise GankitError(f"--out {a.out}: this run's samples are not images (shape {list(x.shape[1:])}); write them as .npy")
        out.parent.mkdir(parents=True, exist_ok=True)
        save_grid(x, out)
    print(f"wrote {a.n} samples from step {step} to {out}")
    return 0


def sample_folder(a: argparse.Namespace) -> int:
    """``gankit sample RUN --out DIR/``: one PNG per sample (000000.png, ...), 8-bit, the
    files external FID tools read. Each is written atomically."""
    import torch

    from gankit.images import save_png, to_uint8
    from gankit.training.generator import load_generator, sample_noise
    from gankit.training.build import generate

    from gankit.training.translation import refuse_translator

    out = Path(a.out)
    G, cfg, context, step = load_generator(a.run)
    refuse_translator(a.run, context)
    labels = None
    if a.label is not None:
        k = context.get("num_classes", 0)
        if not k or not 0 <= a.label < k:
            raise GankitError(f"--label {a.label}: expected a class in 0..{k - 1}" if k else f"--label: {a.run} is not a conditional model")
        labels = torch.full((a.n,), a.label, dtype=torch.long)
    x = generate(G, a.n, sample_noise(cfg, context, a.seed), cfg.data.pixel_range, labels)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise GankitError(f"--out {a.out}: this run's samples are not images (shape {list(x.shape[1:])}); write them as .npy")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(x.shape[0]):
        save_png(to_uint8(x[i]), out / f"{i:06d}.png")
    print(f"wrote {a.n} samples from step {step} to {out}/ (one PNG each)")
    return 0


def eval_record_path(run: str) -> Optional[Path]:
    """Where ``gankit eval`` keeps its figures: RUN/eval.json for a run directory or a
    checkpoint inside one (RUN/checkpoints/ckpt-*.safetensors, RUN/best.safetensors)."""
    p = Path(run)
    if p.is_dir():
        return p / "eval.json"
    parent = p.parent.parent if p.parent.name == "checkpoints" else p.parent
    return parent / "eval.json" if (parent / "config.yaml").is_file() else None


def cmd_eval(a: argparse.Namespace) -> int:
    from gankit.data.datasets import load_dataset
    from gankit.evaluation import check_metrics, generator_context
    from gankit.metrics.registry import evaluate
    from gankit.metrics.ssl import CLASSIFY_OPTION
    from gankit.training.classify import run_classifier
    from gankit.training.generator import load_generator

    from gankit.training.parallel import resolve_device

    check_metrics(a.metric)
    G, cfg, context, step = load_generator(a.run, resolve_device("auto"), a.weights)  # metrics run on G's device
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)
    ctx = generator_context(G, cfg, context.get("num_classes", 0), data, a.seed, a.seed, a.dry_run)
    ctx.options[CLASSIFY_OPTION] = run_classifier(a.run, ctx.device, a.weights)  # test_error: the run's D as a classifier
    figures = evaluate(a.metric, ctx)
    figures["step"] = step
    figures["dry_run"] = bool(a.dry_run)  # dry-run figures (random features, ~2% counts) say nothing
    figures["weights"] = a.weights
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(text)
    from gankit.atomic import write_json, write_text

    if a.out:
        write_text(a.out, text + "\n")
    record = eval_record_path(a.run)
    if record is not None:  # the run keeps its figures, by step, each metric's latest
        try:
            kept = json.loads(record.read_text()) if record.is_file() else {}
        except ValueError:
            kept = {}
        kept = kept if isinstance(kept, dict) else {}
        # the raw weights' figures sit beside the average's under their own names
        prefix = "raw_" if a.weights == "raw" else ""
        row = {prefix + k: v for k, v in figures.items() if k not in ("step", "weights")}
        kept[str(step)] = {**kept.get(str(step), {}), **row}
        write_json(record, dict(sorted(kept.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else -1)))
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    from gankit.reproduce import REPRODUCTIONS, Options, get_reproduction, run

    if a.name == "list":
        for name, r in REPRODUCTIONS.items():
            print(f"{name:20s} {r.description}")
        return 0
    rep = get_reproduction(a.name)
    out = Path(a.out or f"runs/{a.name}")
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    opts = Options(full=a.full, paper_exact=a.paper_exact, dry_run=a.dry_run, seed=a.seed, seeds=a.seeds, jobs=a.jobs)
    run(rep, out, opts)
    return 0


def cmd_presets(a: argparse.Namespace) -> int:
    from gankit.config import preset_description, preset_names

    names = preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:{width}s}  {preset_description(name)}")
    return 0


def cmd_metrics(a: argparse.Namespace) -> int:
    from gankit.metrics.registry import METRICS

    for name, m in METRICS.items():
        print(f"{name:28s} {m.description}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "sample": cmd_sample,
    "eval": cmd_eval,
    "reproduce": cmd_reproduce,
    "presets": cmd_presets,
    "metrics": cmd_metrics,
}

# Subcommands in their own modules: each has ``add_parser(subparsers)``, adding the parser
# named here, and ``run(args) -> int``.
MODULE_COMMANDS = {
    "arithmetic": cmd_arithmetic,
    "classifier": cmd_classifier,
    "classify": cmd_classify,
    "config": cmd_config,
    "export": cmd_export,
    "interpolate": cmd_interpolate,
    "report": cmd_report,
    "translate": cmd_translate,
}


def _pop_debug(argv: list[str]) -> bool:
    """Take ``--debug`` from anywhere before ``--`` (so ``gankit train ... --debug`` works for
    every subcommand, plugins included)."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = "--debug" in argv[:end]
    argv[:end] = [a for a in argv[:end] if a != "--debug"]
    return found


def _printable(text: str) -> str:
    """Control characters (a newline typed into an argument) escaped, so a message stays one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _one_line(text: str) -> str:
    return _printable("; ".join(line.strip() for line in str(text).splitlines() if line.strip()))


def _os_error_line(e: OSError) -> str:
    what = e.strerror or str(e)
    return f"{e.filename}: {what}" if e.filename else what


def _closed_pipe() -> int:
    """stdout's reader has gone (``gankit presets | head -1``): stop quietly with the exit
    code of a process ended by SIGPIPE, and point stdout at /dev/null so the interpreter's
    final flush does not complain."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13  # SIGPIPE


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line and return its exit code: 0 ok, 2 bad input, 3 training
    diverged, 130 interrupted. A bad argument (or --help) raises SystemExit(2) (or 0) from
    argparse, after printing one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _pop_debug(argv)
    args = build_parser().parse_args(argv)
    debug = args.debug = debug or args.debug
    try:
        handler = COMMANDS.get(args.command) or MODULE_COMMANDS[args.command].run
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except DivergenceError as e:
        if debug:
            raise
        print(f"gankit: error: {_one_line(e)}", file=sys.stderr)
        return 3
    except GankitError as e:
        if debug:
            raise
        print(f"gankit: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a missing or unwritable path: the user's environment, not a bug
        if debug:
            raise
        print(f"gankit: error: {_one_line(_os_error_line(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # under torchrun: once for the job, not once per process
            print("gankit: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
