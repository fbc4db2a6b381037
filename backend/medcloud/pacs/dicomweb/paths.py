"""Which DICOMweb paths the proxy serves, and the study each one names. A path is authorised on its study:
the UID in `/studies/{uid}/...`; the front server's pixel requests only when the path it serves is exactly
the one the client sent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..dicom import UID_RE

SEGMENT_RE = re.compile(r"^[0-9A-Za-z.,_-]{1,128}$")
QIDO_LEVELS = {"studies", "series", "instances"}
STUDY_SUBRESOURCES = {"metadata", "rendered", "thumbnail", "series", "instances"}
PIXEL_ONLY = {"frames", "bulk", "rendered", "thumbnail"}  # responses without any PHI attribute


def parse_path(path: str) -> tuple[list[str], str | None]:
    """(segments, study UID or None); raises ValueError for a path this proxy does not serve."""
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments or any(not SEGMENT_RE.match(s) or set(s) == {"."} for s in segments):
        raise ValueError("bad path")
    if segments[0] in ("series", "instances") and len(segments) == 1:
        return segments, None
    if segments[0] != "studies":
        raise ValueError("bad path")
    if len(segments) == 1:
        return segments, None
    if not UID_RE.match(segments[1]):
        raise ValueError("bad study UID")
    rest = segments[2:]
    if rest and rest[0] not in STUDY_SUBRESOURCES:
        raise ValueError("bad path")
    if len(rest) >= 2 and rest[0] == "series" and not UID_RE.match(rest[1]):
        raise ValueError("bad series UID")
    if len(rest) >= 4 and rest[2] == "instances" and not UID_RE.match(rest[3]):
        raise ValueError("bad instance UID")
    return segments, segments[1]


def carries_phi(segments: list[str]) -> bool:
    """Whether the answer to this path may hold PHI attributes (frames, bulk data, images do not)."""
    return not any(s in PIXEL_ONLY for s in segments)


def pixel_study_uid(original_path: str) -> str | None:
    """The study UID of a frames or bulk-data path (the only paths the front server authorises), else None."""
    if not original_path.startswith("/dicom-web/"):
        return None
    try:
        segments, study_uid = parse_path(original_path[len("/dicom-web/"):])
    except ValueError:
        return None
    if study_uid is None or len(segments) < 8 or segments[6] not in ("frames", "bulk"):
        return None
    return study_uid


def served_study_uid(raw_uri: str, served_path: str) -> tuple[str | None, str]:
    """(study UID, query) of the pixel request the front server asks about: the study of the path nginx will
    serve (``X-Served-URI``, normalised), and only when the client sent exactly that path (``X-Original-URI``,
    raw). A request whose raw path differs (``..``, ``%2e%2e``, ``%2f``, ``//``) is authorised for nothing: the
    grant would be checked on one path and the pixels served from another."""
    original = urlsplit(raw_uri)
    if not served_path or original.path != served_path:
        return None, original.query
    return pixel_study_uid(served_path), original.query
