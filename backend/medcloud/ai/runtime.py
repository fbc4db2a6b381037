"""What the AI code takes from the environment, read in one place: ``AIRuntime.from_environ()``.

The command line (``python -m medcloud.ai``, and the ``python -m medcloud.ai.<model>.<tool>`` tools)
and the inference worker, when it first loads a model, call it; the configuration modules and the
library functions below them take plain values and read no environment variable.

- ``MEDCLOUD_DATA_DIR``: the shared data folder (default ``<repository>/../shared/data``,
  ``medcloud.core.paths.shared_data_dir``).
- ``MEDCLOUD_<MODEL>_WEIGHTS`` (e.g. ``MEDCLOUD_YNET_WEIGHTS``): a model file used instead of the
  committed one (e.g. a model published to the registry).
- ``MEDCLOUD_AI_THREADS``: CPU threads of the benchmark (default 2, as on the target worker).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from medcloud.core.paths import shared_data_dir

_PREFIX, _SUFFIX = "MEDCLOUD_", "_WEIGHTS"


@dataclasses.dataclass(frozen=True)
class AIRuntime:
    data_dir: Path
    weights: Mapping[str, Path] = dataclasses.field(default_factory=dict)  # model name -> weights file
    threads: int = 2

    def weights_for(self, model: str, default: Path | None = None) -> Path | None:
        """The weights file configured for ``model``, else ``default``."""
        return self.weights.get(model, default)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AIRuntime:
        env = os.environ if environ is None else environ
        weights = {
            key[len(_PREFIX) : -len(_SUFFIX)].lower(): Path(value)
            for key, value in env.items()
            if key.startswith(_PREFIX) and key.endswith(_SUFFIX) and len(key) > len(_PREFIX + _SUFFIX) and value
        }
        return cls(data_dir=shared_data_dir(env), weights=weights, threads=int(env.get("MEDCLOUD_AI_THREADS") or 2))
