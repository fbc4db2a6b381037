"""Y-Net brain tumour model: classify, segment, localise and measure.

Importing this package is cheap; TensorFlow is imported by ``model``, ``train``,
``predictor``, ``inference`` and ``export`` when they are used.
"""

from medcloud.ai.ynet.config import CLASSES, MODEL_FILE, TrainConfig

__all__ = ["CLASSES", "MODEL_FILE", "TrainConfig"]
