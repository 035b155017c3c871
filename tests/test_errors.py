"""Bad input never gives a raw traceback: hypothesis throws hundreds of broken configs and
command lines at the validator and at the CLI's main(), in-process. Each must give exactly
one line that names the field, and exit code 2."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
import typing
from pathlib import Path

import annotated_types
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel

from gankit.cli.main import main
from gankit.config import Config, _resolve_preset, validate
from gankit.errors import ConfigError

# ---------------------------------------------------------------------------------------
# The schema, read from the pydantic models (so new fields are covered automatically)


def _leaves(model: type[BaseModel], prefix: str = "") -> dict[str, typing.Any]:
    out = {}
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.update(_leaves(ann, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = field
    return out


LEAVES = {k: f for k, f in _leaves(Config).items() if not k.endswith(".args")}  # args are free-form per net
SECTIONS = sorted({k.split(".")[0] for k in LEAVES if "." in k})


def _kind(field) -> str:
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    base = args[0] if typing.get_origin(ann) is typing.Union and len(args) == 1 else ann
    if typing.get_origin(base) is typing.Literal:
        return "literal"
    if base is bool:
        return "bool"
    if base in (int, float):
        return "number"
    if base is str:
        return "str"
    return "other"


def _not_a_number(text: str) -> bool:
    try:
        float(text)
        return False
    except ValueError:
        return True


BOOL_WORDS = {"0", "1", "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"}
# Any printable or control character of the BMP (JSON's \uXXXX escapes, which the CLI test
# writes, carry those through YAML unchanged; astral characters would become surrogate pairs).
junk_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), min_size=1, max_size=12)
junk_value = st.one_of(
    st.dictionaries(junk_text, st.integers(), min_size=1, max_size=2),  # a mapping where a value belongs
    st.lists(junk_text.filter(_not_a_number), min_size=1, max_size=3),  # a list of words
)


def _below_bound(field) -> list[float]:
    out = []
    for m in field.metadata:
        if isinstance(m, annotated_types.Ge):
            out.append(m.ge - 1)
        elif isinstance(m, annotated_types.Gt):
            out.append(m.gt)  # equal to an exclusive bound
        elif isinstance(m, annotated_types.Lt):
            out.append(m.lt)
        elif isinstance(m, annotated_types.Le):
            out.append(m.le + 1)
    return out


KINDS = ("unknown-key", "wrong-type", "typed-junk", "out-of-range", "section", "missing")


@st.composite
def bad_config(draw, kinds: tuple[str, ...] = KINDS) -> tuple[dict, str]:
    """(a config dict with exactly one problem, the field path the error must name)."""
    raw = copy.deepcopy(BASE)
    how = draw(st.sampled_from(kinds))
    if how == "unknown-key":
        section = draw(st.sampled_from(["", *SECTIONS]))
        node = raw[section] if section else raw
        key = draw(junk_text.filter(lambda k: k not in node and "." not in k))
        node[key] = draw(st.integers())
        shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in key)  # control chars escaped
        return raw, f"{section}.{shown}" if section else shown
    if how == "section":
        section = draw(st.sampled_from(SECTIONS))
        raw[section] = draw(st.one_of(st.integers(), junk_text, st.lists(st.integers(), min_size=1)))
        return raw, section
    if how == "missing":
        path = draw(st.sampled_from(["generator", "discriminator", "generator.name", "discriminator.name"]))
        node, _, key = path.rpartition(".")
        del (raw[node] if node else raw)[key]
        return raw, path
    candidates = list(LEAVES)
    if how == "typed-junk":
        candidates = [p for p in LEAVES if _kind(LEAVES[p]) in ("number", "bool", "literal")]
    if how == "out-of-range":
        candidates = [p for p in LEAVES if _below_bound(LEAVES[p])]
    path = draw(st.sampled_from(sorted(candidates)))
    field = LEAVES[path]
    if how == "wrong-type":
        value = draw(junk_value)
    elif how == "out-of-range":
        value = draw(st.sampled_from(_below_bound(field)))
    else:
        kind = _kind(field)
        allowed = set(typing.get_args(field.annotation)) if kind == "literal" else BOOL_WORDS if kind == "bool" else set()
        value = draw(junk_text.filter(lambda t: _not_a_number(t) and t.lower() not in allowed and t.strip() == t))
    node = raw
    *parents, leaf = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return raw, path


def _tiny_base(data_root: Path) -> dict:
    raw = _resolve_preset("goodfellow2014")
    raw["data"].update({"name": "folder-28", "root": str(data_root), "batch_size": 10})
    raw["train"].update({"steps": 2, "threads": 1})
    raw["generator"]["args"] = {"hidden": [8]}
    raw["discriminator"]["args"] = {"units": 4, "pieces": 2}
    raw["log"].update({"tensorboard": False, "progress": False, "diagnostics": False, "samples_every": 1000})
    return raw


DATA_ROOT = Path(tempfile.mkdtemp(prefix="gankit-errors-"))
for _i in range(12):
    Image.fromarray(np.full((28, 28), _i * 20, dtype=np.uint8), mode="L").save(DATA_ROOT / f"{_i}.png")
BASE = _tiny_base(DATA_ROOT)


def _known_names() -> set[str]:
    from gankit.config import preset_names
    from gankit.reproduce import REPRODUCTIONS, get_reproduction

    get_reproduction("goodfellow2014")  # fills the registry
    return set(preset_names()) | set(REPRODUCTIONS) | {"list"}


_KNOWN_NAMES = _known_names()


def _is_real_name(text: str) -> bool:
    """A registered net, objective or dataset (or an alias of one): a 'junk' name equal to
    one is not junk (it would build that real thing and fail, if at all, on another field)."""
    from gankit.data.datasets import DATASETS
    from gankit.nets.registry import NETS
    from gankit.objectives.base import OBJECTIVES

    return any(text in r for r in (NETS, OBJECTIVES, DATASETS))


def test_base_config_is_valid():
    validate(BASE)  # so every rejection below is due to the one mutation


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_config())
def test_validator_names_the_bad_field_in_one_line(case):
    raw, path = case
    with pytest.raises(ConfigError) as e:
        validate(raw, "preset x")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"preset x: field '{path}"), (path, msg)


# ---------------------------------------------------------------------------------------
# The same through the command line, plus problems only the builders can see


@st.composite
def bad_for_cli(draw) -> tuple[dict, str]:
    how = draw(st.sampled_from(["schema", "schema", "name", "net-arg"]))
    if how == "schema":  # a preset file is a delta over defaults.yaml: a missing key is no error there
        return draw(bad_config(tuple(k for k in KINDS if k != "missing")))
    raw = copy.deepcopy(BASE)
    if how == "name":
        field = draw(st.sampled_from(["data.name", "generator.name", "discriminator.name", "objective.name"]))
        sec, key = field.split(".")
        raw[sec][key] = draw(junk_text.filter(lambda t: not t.startswith("folder") and t.strip() == t and not _is_real_name(t)))
        return raw, field
    net = draw(st.sampled_from(["generator", "discriminator"]))
    arg, value = draw(
        st.sampled_from(
            [("hidden", "wide"), ("hidden", [-4]), ("hidden", [0.5]), ("init_range", "x")]
            if net == "generator"
            else [("units", -3), ("pieces", 0), ("input_dropout", 1.5), ("layers", "two"), ("bogus_arg", 1)]
        )
    )
    raw[net]["args"][arg] = value
    return raw, f"{net}.args"


def _run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse's way of rejecting an argument (after one line)
            rc = e.code
    return rc, err.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_for_cli())
def test_cli_train_with_a_bad_config_exits_2_with_one_line(case):
    raw, path = case
    with tempfile.TemporaryDirectory() as tmp:
        preset = Path(tmp) / "bad.yaml"
        preset.write_text(json.dumps(raw))  # JSON is YAML, and its escapes keep odd keys intact
        rc, err = _run_cli(["train", str(preset), "--out", str(Path(tmp) / "run")])
    assert rc == 2 and err.count("\n") == 1 and err.startswith("gankit: error: "), (rc, err)
    assert "Traceback" not in err and f"field '{path}" in err, (path, err)


# Junk that is never an option (-h would print help) nor a real preset or paper (it would train).
arg_junk = junk_text.filter(lambda t: not t.startswith("-") and t not in _KNOWN_NAMES)
words = st.one_of(arg_junk, st.sampled_from(["--n", "-1", "0", "--out", "x.txt", "--metric", "--resume", "sometimes", ".", "--seed", "1.5", "--label", "--full"]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["train", "sample", "eval", "reproduce", "nonsense"]), st.lists(words, max_size=5))
def test_cli_bad_arguments_exit_2_with_one_line(command, rest):
    argv = [command, *rest]
    if command == "reproduce" and rest[:1] == ["list"]:
        return  # a valid command
    with tempfile.TemporaryDirectory() as tmp:
        rc, err = _run_cli(argv + ["--out", str(Path(tmp) / "nothing-here.png")] if command != "train" else argv)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("gankit: error: ") and "Traceback" not in err, (argv, rc, err)


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["train", "goodfellow2014", "train.k=zero", "--out", "/tmp/x"], "field 'train.k'"),
        (["train", "goodfellow2014", "train.k", "--out", "/tmp/x"], "override 'train.k': expected key=value"),
        (["train", "goodfellow2014", "data.batch_size.x=1", "--out", "/tmp/x"], "'batch_size' is not a section"),
        (["train", "no-such-preset", "--out", "/tmp/x"], "unknown preset 'no-such-preset'"),
        (["train", "goodfellow2014", "data.root=/no/such/dir", "--out", "/tmp/x"], "field 'data.root': /no/such/dir is not a directory"),
        (["train", "goodfellow2014", "--resume", "maybe", "--out", "/tmp/x"], "argument --resume: invalid choice"),
        (["sample", "/no/such/run", "--out", "a.png"], "/no/such/run: no such run directory or checkpoint"),
        (["sample", ".", "--n", "0", "--out", "a.png"], "--n: expected a positive integer"),
        (["eval", ".", "--metric", "fid-with-no-count"], "fid-with-no-count"),
        (["reproduce", "no-such-paper"], "no-such-paper"),
    ],
)
def test_specific_messages(argv, expect, tmp_path):
    argv = [str(tmp_path / "x") if a == "/tmp/x" else a for a in argv]
    rc, err = _run_cli(argv)
    assert rc == 2 and err.count("\n") == 1 and expect in err, err
    assert not (tmp_path / "x").exists()  # bad input leaves no run directory behind


def test_debug_shows_the_traceback_instead():
    with pytest.raises(ConfigError, match="train.k"):
        main(["train", "goodfellow2014", "train.k=0", "--out", "/tmp/x", "--debug"])
    with pytest.raises(ConfigError, match="train.k"):
        main(["--debug", "train", "goodfellow2014", "train.k=0", "--out", "/tmp/x"])


@pytest.mark.parametrize(
    "net, name, args, field",
    [("generator", "toy-mlp-d", {"hidden": [8]}, "generator.name"),  # a discriminator as G
     ("discriminator", "paper-mlp", {"hidden": [8]}, "discriminator.name"),  # a generator as D
     ("generator", "toy-mlp", {"hidden": [8], "image_shape": [2]}, "generator.name")],  # not the data's shape
)  # fmt: skip
def test_a_net_that_does_not_fit_its_role_is_one_error_naming_the_field(net, name, args, field, tmp_path):
    # every argument is valid for the net, so only running it shows the mismatch: that
    # happens when the state is built (one line, exit 2), not at the first training step
    raw = copy.deepcopy(BASE)
    raw[net] = {"name": name, "args": args}
    preset = tmp_path / "bad.yaml"
    preset.write_text(json.dumps(raw))
    rc, err = _run_cli(["train", str(preset), "--out", str(tmp_path / "run")])
    assert rc == 2 and err.count("\n") == 1 and f"field '{field}'" in err and "Traceback" not in err, err
