"""The classes a model author writes against: ``InferType``, ``InferTask``, ``Application`` and ``Context``."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from medcloud.sdk.results import Results
    from medcloud.sdk.series import Series


class InferType(enum.StrEnum):
    """What a task produces."""

    SEGMENTATION = "segmentation"  # a Mask (uint8 label volume)
    CLASSIFICATION = "classification"  # Labels with confidences
    LOCALISATION = "localisation"  # Boxes / Measurements giving where a finding is
    DETECTION = "detection"  # Boxes of found objects
    PROCESSING = "processing"  # anything else: HeatMaps, Measurements, summary


class InferTask:
    """One thing a model does. Subclasses declare, as literals (the platform reads them without running the code):

    - ``type``: an :class:`InferType` member, e.g. ``type = InferType.SEGMENTATION``;
    - ``labels``: the names of what it produces (mask values 1..n, class names, box labels), e.g. ``("tumour",)``;
    - ``modalities``: the DICOM modalities it accepts, e.g. ``("MR",)``;
    - ``description``: one line for people.
    """

    type: ClassVar[InferType]
    labels: ClassVar[tuple[str, ...]] = ()
    modalities: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def accepts(self, modality: str) -> bool:
        return not self.modalities or modality.upper() in {m.upper() for m in self.modalities}


class Application:
    """The entry point of a model package: exactly one subclass per ``main.py``.

    ``tasks`` lists the :class:`InferTask` classes it implements; ``run(self, series, context)`` is mandatory and
    returns a :class:`~medcloud.sdk.results.Results`. The constructor is called once, without arguments, in the
    package's folder: load weights there (``Path(__file__).parent / "weights.npz"``).
    """

    tasks: ClassVar[list[type[InferTask]]] = []

    def run(self, series: Series, context: Context) -> Results:  # pragma: no cover - the author's part
        raise NotImplementedError("an Application must implement run(self, series, context)")


class Context:
    """What the platform gives a running model besides the series.

    - ``progress(percent, message)``: report progress (0-100) and a short message shown to the user;
    - ``scratch``: a private writable folder, emptied after the run;
    - ``log``: a :class:`logging.Logger` whose output is kept for the model's owner.
    """

    def __init__(
        self,
        scratch: Path,
        progress: Callable[[float, str], None] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.scratch = Path(scratch)
        self._progress = progress
        self.log = log or logging.getLogger("medcloud.model")
        self.last_progress: tuple[float, str] = (0.0, "")

    def progress(self, percent: float, message: str = "") -> None:
        p = float(percent)
        if not math.isfinite(p):
            raise ValueError("progress percent must be a finite number")
        p = min(100.0, max(0.0, p))
        message = str(message)[:200]
        self.last_progress = (p, message)
        if self._progress is not None:
            self._progress(p, message)
