"""Name -> network class, so presets can pick nets and users can add their own.

``gankit.nets`` imports the built-in nets, and importing this module imports that package
first, so every built-in is registered before ``build_net`` runs. A name with a colon,
``mypkg.nets:MyG``, is an import path (as stylegan2-ada's ``class_name``): the user's own
``nn.Module`` class, found without registering it, so the CLI sees it too."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from gankit.errors import ConfigError
from gankit.registry import Registry, import_object

NETS: Registry[Callable[..., nn.Module]] = Registry("net")
register_net = NETS.register


def import_path(obj: Callable[..., Any]) -> str:
    """``module:QualName`` of a class or function, the form ``resolve_net`` imports."""
    return f"{obj.__module__}:{obj.__qualname__}"


def resolve_net(role: str, name: str) -> Callable[..., nn.Module]:
    """The constructor called ``name``: a registered net, or an import path ``module:Class``."""
    if ":" not in name:
        return NETS.get(name, field=f"{role}.name")
    obj = import_object(name, f"{role}.name")
    if not callable(obj):
        raise ConfigError(f"field '{role}.name': '{name}' is not a class or function")
    return obj


def net_kwargs(role: str, name: str, args: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The keyword arguments ``build_net`` calls net ``name`` with: the user's ``args``, and
    ``context`` (data shape, noise dim, classes) for constructor parameters they did not set."""
    cls = resolve_net(role, name)
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        raise ConfigError(f"field '{role}.name': cannot read the arguments of '{name}'") from None
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in args:
        if key not in params and not takes_any:
            raise ConfigError(
                f"field '{role}.args.{key}': not an argument of net '{name}' (expected one of: {', '.join(params)})"
            )
    kwargs = {k: v for k, v in context.items() if k in params and k not in args}
    kwargs.update(args)
    return kwargs


def build_net(role: str, name: str, args: dict[str, Any], **context: Any) -> nn.Module:
    """Build net ``name`` with the user's ``args``; ``context`` (data shape, noise dim,
    classes) fills constructor parameters the user did not set."""
    cls = resolve_net(role, name)
    kwargs = net_kwargs(role, name, args, **context)
    try:
        net = cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as e:  # torch: RuntimeError for e.g. negative sizes
        raise ConfigError(f"field '{role}.args': net '{name}' rejected its arguments: {e}") from None
    if not isinstance(net, nn.Module):
        raise ConfigError(f"field '{role}.name': '{name}' returned a {type(net).__name__}, not a torch nn.Module")
    return net
