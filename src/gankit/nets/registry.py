"""Name -> network class, so presets can pick nets and users can add their own.

``gankit.nets`` imports the built-in nets, and importing this module imports that package
first, so every built-in is registered before ``build_net`` runs."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from gankit.errors import ConfigError
from gankit.registry import Registry

NETS: Registry[Callable[..., nn.Module]] = Registry("net")
register_net = NETS.register


def build_net(role: str, name: str, args: dict[str, Any], **context: Any) -> nn.Module:
    """Build net ``name`` with the user's ``args``; ``context`` (data shape, noise dim,
    classes) fills constructor parameters the user did not set."""
    cls = NETS.get(name, field=f"{role}.name")
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
