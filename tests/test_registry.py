"""The one name -> entry registry, and the built-ins each package registers on import."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gankit
from gankit.errors import ConfigError, GankitError
from gankit.registry import Registry


def test_entries_aliases_and_removal():
    r: Registry[int] = Registry("thing")
    r.register("one", aliases=("uno",))(1)
    r.add("two", 2)
    assert r.get("uno") == 1 and r.get("two") == 2 and r.names() == ["one", "two"] and len(r) == 2
    assert "uno" in r and "three" not in r and 1 not in r
    assert list(r.items()) == [("one", 1), ("two", 2)]
    r.remove("one")
    assert "one" not in r and "uno" not in r and r.names() == ["two"]
    r.remove("one")  # absent: nothing to do


def test_unknown_name_is_one_error_naming_the_field_and_the_known_entries():
    r: Registry[int] = Registry("thing")
    r.add("b", 2)
    r.add("a", 1)
    with pytest.raises(ConfigError, match=r"^field 'x\.name': unknown thing 'c' \(known: a, b\)$"):
        r.get("c", field="x.name")
    plain: Registry[int] = Registry("thing", error=GankitError)
    plain.add("a", 1)
    with pytest.raises(GankitError, match=r"^unknown thing 'c' \(known: a\)$"):
        plain.get("c")


def test_build_errors_name_the_config_field():
    from gankit.data.datasets import load_dataset
    from gankit.nets.registry import build_net
    from gankit.objectives.base import build_objective

    with pytest.raises(ConfigError, match=r"field 'generator\.name': unknown net 'nope' \(known: .*paper-mlp"):
        build_net("generator", "nope", {})
    with pytest.raises(ConfigError, match=r"field 'objective\.name': unknown objective 'nope' \(known: .*wgan"):
        build_objective("nope")
    with pytest.raises(ConfigError, match=r"field 'data\.name': unknown dataset 'nope' \(known: .*mnist"):
        load_dataset("nope")
    assert build_objective("minimax").name == build_objective("saturating").name  # an alias


def test_builtins_exist_after_importing_only_the_registry_module():
    # in a fresh interpreter: no other gankit module may be needed to register a built-in
    code = (
        "import sys\n"
        "from gankit.nets.registry import NETS\n"
        "from gankit.metrics.registry import METRICS\n"
        "from gankit.data.datasets import DATASETS\n"
        "from gankit.objectives.base import OBJECTIVES\n"
        "assert {'gaussian-1d', 'mlp-1d', 'spline-1d', 'paper-mlp', 'dcgan', 'toy-mlp'} <= set(NETS.names()), NETS.names()\n"
        "assert {'parzen10k', 'fid10k', 'modes2500'} <= set(METRICS.names()), METRICS.names()\n"
        "assert {'mnist', 'ring8', 'folder'} <= set(DATASETS.names()), DATASETS.names()\n"
        "assert {'fgan', 'wgan-gp', 'hinge'} <= set(OBJECTIVES.names()), OBJECTIVES.names()\n"
        "assert not any(m.startswith('gankit.reproduce') for m in sys.modules)\n"
    )
    src = str(Path(gankit.__file__).parents[1])  # this copy of the package, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
