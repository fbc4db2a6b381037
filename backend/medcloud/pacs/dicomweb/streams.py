"""Orthanc's answer for one authorised study, streamed back with the PHI restored where it carries any:
metadata split object by object (`jsonstream.JsonArraySplitter`) and re-emitted compact; whole instances
parsed part by part (`multipart.MultipartParser`), at most PIPELINE being rewritten at once in worker
threads; frames, bulk data and images (no PHI) relayed as they are. Memory stays flat whatever the study
size."""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from ..dicom import restore_instance_bytes, restore_json
from ..jsonstream import JsonArraySplitter
from ..multipart import MultipartParser, boundary_of
from .dicomjson import SERIES_UID_TAG, dumps, first, loads
from .errors import error
from .query import results_of_study
from .upstream import send

PIPELINE = 4  # whole instances being rewritten at once
SMALL_BODY_BYTES = 2 * 1024 * 1024  # pixel responses up to this size are relayed in one piece


async def forward(request: HttpRequest, url: str, params: list[tuple[str, str]], study_phi: dict[str, Any],
                  series_phi: dict[str, dict[str, Any]], *, qido_study: str | None) -> HttpResponse:
    """Orthanc's answer for one authorised study. ``qido_study``: a search's results, kept only when they
    belong to that study (whatever the query said)."""
    response = await send(request, url, params)
    if isinstance(response, HttpResponse):
        return response
    content_type = response.headers.get("content-type", "application/octet-stream")
    if response.status_code >= 400:
        await response.aread()
        await response.aclose()
        status = response.status_code if response.status_code in (400, 404, 406, 410) else 502
        return error(status, "upstream_error", f"The image store answered {response.status_code}.")
    ctype = content_type.lower()
    relayed_length = None  # the Content-Length of a body relayed as it is
    if "json" in ctype:
        if qido_study is not None:
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            results = results_of_study(body, qido_study, study_phi, series_phi)
            return HttpResponse(dumps(results), content_type=content_type)
        stream: AsyncIterator[bytes] = metadata_stream(response, study_phi, series_phi)
    elif ctype.startswith("multipart/related") and "application/dicom" in ctype and "+" not in ctype.split(
            "type=", 1)[-1][:20]:
        boundary = "medcloud-" + secrets.token_hex(12)
        stream = instances_stream(response, study_phi, series_phi, boundary)
        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    else:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= SMALL_BODY_BYTES:
            # A frame, a thumbnail: one send costs less than a stream of chunks; memory stays bounded.
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            small = HttpResponse(body, status=response.status_code, content_type=content_type)
            small["Cache-Control"] = "no-store"
            return small
        stream = passthrough(response)
        relayed_length = response.headers.get("content-length")
    out = StreamingHttpResponse(stream, status=response.status_code, content_type=content_type)
    if relayed_length is not None:
        out["Content-Length"] = relayed_length
    out["Cache-Control"] = "no-store"
    return out


async def passthrough(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


async def metadata_stream(response: httpx.Response, study_phi: dict[str, Any],
                          series_phi: dict[str, dict[str, Any]]) -> AsyncIterator[bytes]:
    splitter = JsonArraySplitter()
    started = False
    try:
        yield b"["
        async for chunk in response.aiter_bytes():
            pieces = []
            for raw in splitter.feed(chunk):
                obj = loads(raw)
                restore_json(obj, study_phi, only_present=False)
                restore_json(obj, series_phi.get(first(obj, SERIES_UID_TAG) or "", {}), only_present=False)
                pieces.append(dumps(obj))
            if pieces:
                yield (b"," if started else b"") + b",".join(pieces)
                started = True
        yield b"]"
    finally:
        await response.aclose()


async def instances_stream(response: httpx.Response, study_phi: dict[str, Any],
                           series_phi: dict[str, dict[str, Any]], boundary: str) -> AsyncIterator[bytes]:
    """Whole instances with their PHI restored: each part is rewritten in a worker thread while the next
    ones are read (at most PIPELINE parts in flight, sent in order), so memory holds a few instances."""
    parser = MultipartParser(boundary_of(response.headers.get("content-type", "")))
    part = bytearray()
    delimiter = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    pending: deque[asyncio.Future[bytes]] = deque()
    try:
        async for chunk in response.aiter_bytes():
            for event, value in parser.feed(chunk):
                if event == "headers":
                    part = bytearray()
                elif event == "data":
                    part += value if isinstance(value, bytes) else b""
                elif event == "end_part":
                    pending.append(asyncio.ensure_future(
                        asyncio.to_thread(restore_instance_bytes, bytes(part), study_phi, series_phi)))
                    part = bytearray()
            while pending and (len(pending) >= PIPELINE or pending[0].done()):
                yield delimiter + await pending.popleft() + b"\r\n"
        while pending:
            yield delimiter + await pending.popleft() + b"\r\n"
        yield f"--{boundary}--\r\n".encode()
    finally:
        for future in pending:
            future.cancel()
        await response.aclose()
