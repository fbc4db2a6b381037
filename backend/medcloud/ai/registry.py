"""The registry of the bundled models: name -> how to train, evaluate and benchmark it.

A model lives in its own package ``medcloud.ai.<name>`` (config, model, preprocessing, predictor,
inference, train, evaluate, benchmark) and registers itself when that package is imported:

    register(ModelSpec(name="ynet", description="...",
                       train="medcloud.ai.ynet.train:main", evaluate="medcloud.ai.ynet.evaluate:main",
                       benchmark="medcloud.ai.ynet.benchmark:main"))

Entry points are ``"module:function"`` strings, imported only when a command runs them (so that
listing the models imports no TensorFlow). Each is called as ``function(argv, runtime)``: the
command line's remaining arguments and the ``AIRuntime`` read from the environment by the caller.
``python -m medcloud.ai {train,evaluate,benchmark} --model NAME`` (``make train|evaluate|benchmark-ai
MODEL=NAME``) dispatches through ``get(NAME)``. A new model: its package, its ``register`` call, and its
package name in ``BUNDLED``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import Any

# packages whose import registers a model
BUNDLED: tuple[str, ...] = ("medcloud.ai.ynet",)

COMMANDS: tuple[str, ...] = ("train", "evaluate", "benchmark")

EntryPoint = Callable[..., Any]


class UnknownModelError(LookupError):
    """No registered model has this name."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    train: str  # "module:function"
    evaluate: str
    benchmark: str

    def entry_point(self, command: str) -> EntryPoint:
        """The function that runs ``command`` (one of ``COMMANDS``) for this model, imported now."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")
        module, _, attr = getattr(self, command).partition(":")
        return getattr(importlib.import_module(module), attr)


_MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model (registering the same spec again is a no-op; another spec under a taken name is refused)."""
    known = _MODELS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _MODELS[spec.name] = spec
    return spec


def _load_bundled() -> None:
    for package in BUNDLED:
        importlib.import_module(package)


def names() -> list[str]:
    """The names of the registered models, sorted."""
    _load_bundled()
    return sorted(_MODELS)


def get(name: str) -> ModelSpec:
    _load_bundled()
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(_MODELS))}") from None


def models() -> Sequence[ModelSpec]:
    _load_bundled()
    return [_MODELS[n] for n in sorted(_MODELS)]
