"""Y-Net brain tumour model: classify, segment, localise and measure.

Importing this package is cheap (it registers the model in ``medcloud.ai.registry``);
TensorFlow is imported by ``model``, ``train``, ``predictor``, ``inference`` and
``export`` when they are used.
"""

from medcloud.ai.registry import ModelSpec, register
from medcloud.ai.ynet.config import CLASSES, MODEL_FILE, TrainConfig

SPEC = register(
    ModelSpec(
        name="ynet",
        description="Y-Net brain tumour model: class, mask, localisation and measurements per brain MRI series",
        train="medcloud.ai.ynet.train:main",
        evaluate="medcloud.ai.ynet.evaluate:main",
        benchmark="medcloud.ai.ynet.benchmark:main",
    )
)

__all__ = ["CLASSES", "MODEL_FILE", "SPEC", "TrainConfig"]
