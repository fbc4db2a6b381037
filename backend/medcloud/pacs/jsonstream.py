"""Split a streamed JSON array of objects (DICOMweb metadata) into its top-level objects as they arrive,
so that each can be rewritten and passed on without holding the whole document: memory stays at one
object (one instance's metadata), whatever the number of instances.

Works on bytes: JSON's structural characters are ASCII, and no byte of a multi-byte UTF-8 sequence can
be mistaken for one.

Orthanc pretty-prints (JsonCpp's styled writer): each top-level object of the array opens with "{" and closes
with "}" at the very start of a line, and nothing else can put a brace there (a JSON string holds no raw
newline, nested braces are indented by tabs). When the document starts that way, objects are cut at
"\n}" with one C-level search per chunk; any other document is scanned brace by brace, string by string.
The first is about 10 times faster on a study's metadata (the proxy's main cost before).
"""

from __future__ import annotations

import re

_SCAN = re.compile(rb'[{}"\\]')
_IN_STRING = re.compile(rb'["\\]')
_STYLED_START = re.compile(rb'\s*\[\{\r?\n\t"')  # "[{", then the first member one tab in
_STYLED_END = b"\n}"


class JsonArraySplitter:
    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.current = bytearray()
        self.styled: bool | None = None  # None: not yet known (fewer than a few bytes seen)
        self.pending = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.styled is None:
            self.pending += chunk
            head = bytes(self.pending[:256])
            if len(head) < 256 and b'"' not in head and b"}" not in head:
                return []  # too little to tell yet
            self.styled = _STYLED_START.match(head) is not None
            chunk, self.pending = bytes(self.pending), bytearray()
        return self._cut_styled(chunk) if self.styled else self._scan(chunk)

    def _cut_styled(self, chunk: bytes) -> list[bytes]:
        self.pending += chunk
        end = self.pending.rfind(_STYLED_END)
        if end < 0:
            return []
        complete = bytes(self.pending[: end + len(_STYLED_END)])
        del self.pending[: end + len(_STYLED_END)]
        # every piece but the last ends an object; what precedes its "{" is "[", "," and whitespace
        pieces = complete.split(_STYLED_END)[:-1]
        return [piece[piece.index(b"{"):] + _STYLED_END for piece in pieces]

    def _scan(self, chunk: bytes) -> list[bytes]:
        objects: list[bytes] = []
        pos = 0
        start = 0 if self.depth else None  # where the part of `chunk` that belongs to an object starts
        n = len(chunk)
        if self.escape and n:
            self.escape = False
            pos = 1
        while pos < n:
            if self.in_string:
                match = _IN_STRING.search(chunk, pos)
                if match is None:
                    break
                at = match.start()
                if chunk[at] == 0x5C:  # backslash: skip the escaped byte
                    if at + 1 >= n:
                        self.escape = True
                        pos = n
                        break
                    pos = at + 2
                    continue
                self.in_string = False
                pos = at + 1
                continue
            match = _SCAN.search(chunk, pos)
            if match is None:
                break
            at = match.start()
            byte = chunk[at]
            pos = at + 1
            if byte == 0x22:  # quote
                self.in_string = True
            elif byte == 0x7B:  # {
                if self.depth == 0:
                    start = at
                    self.current.clear()
                self.depth += 1
            elif byte == 0x7D:  # }
                self.depth -= 1
                if self.depth == 0 and start is not None:
                    self.current += chunk[start:pos]
                    objects.append(bytes(self.current))
                    self.current.clear()
                    start = None
        if self.depth and start is not None:
            self.current += chunk[start:]
        return objects
