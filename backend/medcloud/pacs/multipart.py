"""A streaming parser for multipart/related bodies (STOW-RS requests, WADO-RS multipart responses).

Push-based: `feed(chunk)` returns events, so that the same parser serves a synchronous request body and an
asynchronous upstream response; memory holds at most one chunk plus the delimiter length, never a whole
part (unless the caller collects it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    pass


def boundary_of(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type or "", re.IGNORECASE)
    if not match:
        raise MultipartError("the Content-Type has no multipart boundary")
    return match.group(1)


def parse_headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.split(b"\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise MultipartError("a part header line is malformed")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


class MultipartParser:
    """Events: ("headers", dict), ("data", bytes), ("end_part", None), ("done", None)."""

    def __init__(self, boundary: str) -> None:
        self.delimiter = b"\r\n--" + boundary.encode("latin-1")
        self.buffer = bytearray(b"\r\n")  # so that the first boundary looks like every other one
        self.state = "preamble"
        self.parts = 0

    def feed(self, chunk: bytes) -> list[tuple[str, object]]:
        self.buffer += chunk
        events: list[tuple[str, object]] = []
        keep = len(self.delimiter) + 2
        while True:
            if self.state == "preamble":
                at = self.buffer.find(self.delimiter)
                if at < 0:
                    del self.buffer[: max(0, len(self.buffer) - keep)]
                    return events
                del self.buffer[: at + len(self.delimiter)]
                self.state = "after_boundary"
            elif self.state == "after_boundary":
                if len(self.buffer) < 2:
                    return events
                if self.buffer[:2] == b"--":
                    self.state = "done"
                    events.append(("done", None))
                    return events
                at = self.buffer.find(b"\r\n")
                if at < 0:
                    if len(self.buffer) > 256:
                        raise MultipartError("a multipart boundary line is malformed")
                    return events
                del self.buffer[: at + 2]
                self.state = "headers"
            elif self.state == "headers":
                if self.buffer[:2] == b"\r\n":
                    headers_block, consumed = b"", 2
                else:
                    at = self.buffer.find(b"\r\n\r\n")
                    if at < 0:
                        if len(self.buffer) > MAX_HEADER_BYTES:
                            raise MultipartError("a part's headers are too long")
                        return events
                    headers_block, consumed = bytes(self.buffer[:at]), at + 4
                del self.buffer[:consumed]
                events.append(("headers", parse_headers(headers_block)))
                self.parts += 1
                self.state = "body"
            elif self.state == "body":
                at = self.buffer.find(self.delimiter)
                if at < 0:
                    safe = len(self.buffer) - len(self.delimiter)
                    if safe > 0:
                        events.append(("data", bytes(self.buffer[:safe])))
                        del self.buffer[:safe]
                    return events
                if at:
                    events.append(("data", bytes(self.buffer[:at])))
                events.append(("end_part", None))
                del self.buffer[: at + len(self.delimiter)]
                self.state = "after_boundary"
            else:  # done: ignore the epilogue
                self.buffer.clear()
                return events

    def close(self) -> None:
        if self.state != "done":
            raise MultipartError("the multipart body ended before its closing boundary")


def iter_stream(stream: IO[bytes], chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield chunk
