"""MedCloud model SDK: the one contract between a model package and the platform.

A model package is a folder (a zip when uploaded) holding ``main.py``, ``model.toml`` and its weight files.
``main.py`` defines one or more :class:`InferTask` classes (what the model does: an :class:`InferType`, the
labels it produces, the modalities it accepts) and exactly one :class:`Application` that lists them and
implements ``run(self, series, context) -> Results``.

This package imports neither Django nor TensorFlow (numpy and pydicom only); highdicom is imported lazily by
:mod:`medcloud.sdk.outputs`, on the platform side only.
"""

from __future__ import annotations

from medcloud.sdk.api import Application, Context, InferTask, InferType
from medcloud.sdk.results import (
    Box,
    HeatMap,
    Label,
    Mask,
    Measurement,
    ResultError,
    ResultLimits,
    Results,
    results_to_json,
    validate_results,
)
from medcloud.sdk.series import Series, SeriesError, load_series

SDK_VERSION = "1"

__all__ = [
    "SDK_VERSION",
    "Application",
    "Box",
    "Context",
    "HeatMap",
    "InferTask",
    "InferType",
    "Label",
    "Mask",
    "Measurement",
    "ResultError",
    "ResultLimits",
    "Results",
    "Series",
    "SeriesError",
    "load_series",
    "results_to_json",
    "validate_results",
]
