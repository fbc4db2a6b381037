"""Configuration for the Y-Net brain tumour model (no TensorFlow import here).

One place for the class list, the model hyper-parameters, the training
recipe and the committed weights. Plain values only: the environment
(data folder, a replacement weights file) is read by ``medcloud.ai.runtime``
at the entry points, which pass what they read to the functions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

CLASSES: tuple[str, ...] = ("glioma", "meningioma", "pituitary", "no_tumor")
TUMOUR_CLASSES: tuple[str, ...] = CLASSES[:3]
NO_TUMOUR = "no_tumor"

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"
# the committed model file (the entry points use $MEDCLOUD_YNET_WEIGHTS instead when it is set)
MODEL_FILE = WEIGHTS_DIR / "ynet.keras"
METADATA_FILE = MODEL_FILE.with_suffix(".json")

TRAIN_SETS: tuple[str, ...] = ("brain_mri_cheng", "brain_mri_no_tumor")  # folders of the shared data folder


@dataclasses.dataclass
class TrainConfig:
    """The training recipe (everything that decides the committed weights)."""

    seed: int = 1337
    image_size: int = 128
    base_filters: int = 16
    depth: int = 4
    separable: bool = False
    attention: bool = True
    dropout: float = 0.3
    epochs: int = 30
    batch_size: int = 16
    peak_lr: float = 2e-3
    min_lr: float = 2e-5
    warmup_epochs: int = 2
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    focal_gamma: float = 1.0
    class_loss_weight: float = 1.0
    mask_loss_weight: float = 1.0
    mixed_precision: bool = False
    time_budget_min: float = 100.0
    tta: bool = True
    steps_per_epoch: int | None = None
    limit_train: int | None = None
    limit_val: int | None = None
    swa_last: int = 8  # average (SWA) over up to the last 8 epochs + BN recalibration, chosen on val; 0 = off
    init_from: str | None = None  # fine-tune: start from this .keras (any input size: weights are size-free)
    aug_strength: float = 1.0  # scales every augmentation range (1 = the full ranges in data.py)
    erase_prob: float = 0.0  # share of tumour slices swapped for their tumour-erased copy, labelled no tumour

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
