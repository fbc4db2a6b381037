"""Export and loading of trained Y-Net weights.

The committed artefact is ``weights/ynet.keras`` (architecture from
``YNet.get_config()`` + float32 weights) and ``weights/ynet.json`` (classes,
preprocessing, training recipe and the validation figures it was selected on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medcloud.ai.ynet.config import METADATA_FILE, MODEL_FILE


def export_model(model, path: str | Path = MODEL_FILE, metadata: dict[str, Any] | None = None) -> Path:
    """Save ``model`` as a float32 ``.keras`` file (rebuilt from its config) plus a metadata JSON."""
    import keras

    from medcloud.ai.ynet.model import YNet

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("float32")
        clean = YNet(**{k: v for k, v in model.get_config().items() if k != "trainable"})
        clean.set_weights([w for w in model.get_weights()])
    finally:
        keras.mixed_precision.set_global_policy(policy)
    clean.save(path)
    meta_path = path.with_suffix(".json")
    if metadata is not None:
        meta_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path


def load_model(path: str | Path | None = None):
    """Load a saved Y-Net (``compile=False``: inference only)."""
    import keras

    import medcloud.ai.ynet.losses  # noqa: F401
    import medcloud.ai.ynet.model  # noqa: F401  (registers YNet)

    path = Path(path) if path is not None else MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"Y-Net weights not found: {path}")
    return keras.saving.load_model(path, compile=False)


def load_metadata(path: str | Path | None = None) -> dict[str, Any]:
    path = Path(path) if path is not None else METADATA_FILE
    if path.suffix == ".keras":
        path = path.with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {}
