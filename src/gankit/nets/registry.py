"""Name -> network class, so presets can pick nets and users can add their own."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from gankit.errors import ConfigError

NETS: dict[str, Callable[..., nn.Module]] = {}


def register_net(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        NETS[name] = cls
        return cls

    return deco


def build_net(role: str, name: str, args: dict[str, Any], **context: Any) -> nn.Module:
    """Build net ``name`` with the user's ``args``; ``context`` (data shape, noise dim,
    classes) fills constructor parameters the user did not set."""
    from gankit.nets import mlp  # noqa: F401  (registers the built-in nets)

    _load_optional_nets()
    if name not in NETS:
        raise ConfigError(f"field '{role}.name': unknown net '{name}' (known: {', '.join(sorted(NETS))})")
    cls = NETS[name]
    params = inspect.signature(cls).parameters
    for key in args:
        if key not in params:
            raise ConfigError(
                f"field '{role}.args.{key}': not an argument of net '{name}' (expected one of: {', '.join(params)})"
            )
    kwargs = {k: v for k, v in context.items() if k in params and k not in args}
    kwargs.update(args)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as e:  # torch: RuntimeError for e.g. negative sizes
        raise ConfigError(f"field '{role}.args': net '{name}' rejected its arguments: {e}") from None


def _load_optional_nets() -> None:
    # Nets in other modules register themselves on import; import whichever exist.
    import importlib
    import pkgutil

    import gankit.nets as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in ("registry",):
            importlib.import_module(f"gankit.nets.{mod.name}")
