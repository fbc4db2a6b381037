"""Top-level elements must be unique and ascending (`check_element_order`): pydicom keeps the last copy of a
repeated element, Orthanc's DCMTK the first, so a decoy could be protected while the real value is indexed.
No Django here."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import data_element_generator
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from .instance import InvalidInstance

# The explicit VRs whose length takes 4 bytes (after 2 reserved ones), as pydicom reads them (plain strings).
_LONG_LENGTH_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
UNDEFINED_LENGTH = 0xFFFFFFFF


def _element_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def check_element_order(data: bytes, ds: Dataset) -> None:
    """Refuse a file whose top-level elements repeat or are not in ascending order (DICOM requires it).

    pydicom keeps the LAST copy of a repeated element, Orthanc's parser (DCMTK) the FIRST: a real
    PatientName followed by a decoy would be protected as the decoy while Orthanc indexed the real name in
    the clear, and a second StudyInstanceUID would file the instance under another study. `ds` is
    pydicom's parse of `data`, its raw elements not yet decoded: when they lie end to end in the bytes, in
    ascending order, nothing can repeat (`_tile_end`; ~0.05 ms an MR slice, no second parse). Otherwise
    (a deflated dataset, an undefined-length sequence, a command group) the elements are walked in the
    bytes, as pydicom reads them, values skipped (~0.25 ms)."""
    if ds.file_meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
        meta_end = _tile_end(ds.file_meta._dict, data, 132, 0x00020000, 0x0002FFFF)
        end = _tile_end(ds._dict, data, meta_end, 0x00030000, 0xFFFFFFFF) if meta_end is not None else None
        if end is not None and 0 <= len(data) - end < 8:  # pydicom ignores a tail under 8 bytes too
            return
    stream = io.BytesIO(data)
    stream.seek(132)
    seen: set[int] = set()
    # as pydicom reads them: the meta group (explicit VR little endian), then any command group (implicit)
    _walk(stream, data, _looks_implicit(data, 132, False), True, seen, lambda tag, vr, length: tag >> 16 != 2)
    _walk(stream, data, _looks_implicit(data, stream.tell(), True), True, seen,
          lambda tag, vr, length: tag >> 16 != 0)
    start = stream.tell()
    implicit, little = ds.original_encoding
    if ds.file_meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian:
        data, start, implicit = zlib.decompress(data[start:], -zlib.MAX_WBITS), 0, False
        stream = io.BytesIO(data)
    stream.seek(start)
    _walk(stream, data, _looks_implicit(data, start, bool(implicit)), bool(little), seen, None)


def _looks_implicit(data: bytes, position: int, assumed: bool) -> bool:
    """Implicit or explicit VR, decided from the first element's VR bytes as pydicom decides it (it
    follows what the bytes look like over what the transfer syntax says)."""
    vr = data[position + 4:position + 6]
    if len(vr) < 2:
        return assumed
    return not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B)


def _tile_end(elements: Mapping[Any, Any], data: bytes, start: int, lowest: int, highest: int) -> int | None:
    """Where pydicom's top-level `elements` (a dataset's `_dict`) end in `data` when, in the order it met
    them, their tags ascend from `lowest` to `highest` and they lie end to end from `start`; else None
    ("walk the bytes", not "refuse"). Then nothing repeats: pydicom keeps one entry per tag, in the place
    where the first copy was met but with the last copy's position, so a repeated element leaves a copy's
    bytes (8 or more) uncovered, or an entry out of place."""
    tags = list(map(int, elements))  # in the order met (a dict keeps the place of the first insertion)
    if not tags or tags[0] < lowest or tags[-1] > highest or tags != sorted(tags):
        return None
    raw = next((e for e in elements.values() if type(e) is RawDataElement), None)
    if raw is None:
        return None
    implicit, little = raw.is_implicit_VR, raw.is_little_endian  # the same for all the elements of a walk
    position = start
    for tag, element in zip(tags, elements.values(), strict=True):
        if type(element) is RawDataElement:
            value_at = element.value_tell
            if value_at - (8 if implicit or element.VR not in _LONG_LENGTH_VRS else 12) != position:
                return None
            length = element.length
            if length == UNDEFINED_LENGTH:  # encapsulated pixel data: the value, then an 8-byte delimiter
                if element.value is None:
                    return None
                length = len(element.value) + 8
        else:  # decoded while reading (Specific Character Set...): its length from its header in the bytes
            decoded_at: int | None = getattr(element, "file_tell", None)
            decoded_length = _header_length(data, position, tag, decoded_at, implicit, little)
            if decoded_at is None or decoded_length is None:
                return None
            value_at, length = decoded_at, decoded_length
        position = value_at + length
    return position


def _header_length(data: bytes, position: int, tag: int, value_at: int | None, implicit: bool,
                   little: bool) -> int | None:
    """The defined value length in the header of `tag` at `position`, read as pydicom read it, when the
    header ends exactly at `value_at` (so no other bytes lie between); else None."""
    if value_at is None:
        return None
    header = value_at - position
    endian = "<" if little else ">"
    if header not in (8, 12) or len(data) < value_at \
            or struct.unpack_from(endian + "HH", data, position) != (tag >> 16, tag & 0xFFFF):
        return None
    vr = data[position + 4:position + 6]
    if header == 12:
        long_vr = not implicit and vr.decode("latin-1") in _LONG_LENGTH_VRS
        length = struct.unpack_from(endian + "L", data, position + 8)[0] if long_vr else None
    elif implicit or (vr.decode("latin-1") not in _LONG_LENGTH_VRS and not b"AA" <= vr <= b"ZZ"
                      and pydicom.config.assume_implicit_vr_switch):
        length = struct.unpack_from(endian + "L", data, position + 4)[0]  # an implicit VR header
    elif vr.decode("latin-1") in _LONG_LENGTH_VRS:
        length = None  # a 4-byte length would have made the header 12 bytes
    else:
        length = struct.unpack_from(endian + "H", data, position + 6)[0]
    return None if length is None or length == UNDEFINED_LENGTH else length


def _walk(stream: io.BytesIO, data: bytes, implicit: bool, little: bool, seen: set[int],
          stop_when: Callable[[Any, Any, int], bool] | None) -> None:
    """Read the top-level elements from the stream's position with pydicom's own element reader (values
    skipped, not loaded) and refuse a tag met before (`seen`, shared by the meta group and the dataset) or
    lower than the previous one. With `stop_when`, the stream is left at the first element it stops at."""
    previous = -1
    try:
        for element in data_element_generator(stream, implicit, little, stop_when, defer_size=0):
            tag = int(element.tag)
            if stop_when is None and tag == 0 and isinstance(element, RawDataElement) \
                    and not data[element.value_tell - 8:].strip(b"\0"):
                return  # zero padding after the last element, which some writers leave
            if tag in seen:
                raise InvalidInstance(f"duplicated element {_element_name(tag)}")
            if tag < previous:
                raise InvalidInstance(f"elements out of order at {_element_name(tag)}")
            seen.add(tag)
            previous = tag
    except (EOFError, NotImplementedError):
        return  # pydicom stops reading there too (a truncated file is refused by the pixel data check)
    position = stream.tell()
    if stop_when is None and len(data) - position >= 8 and data[position:].strip(b"\0"):
        # pydicom stopped at a stray item delimiter: what follows, it never read, but another reader might
        raise InvalidInstance("unexpected data after the end of the dataset")
