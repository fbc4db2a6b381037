"""Split a streamed JSON array of objects (DICOMweb metadata) into its top-level objects as they arrive,
so that each can be rewritten and passed on without holding the whole document: memory stays at one
object (one instance's metadata), whatever the number of instances.

Works on bytes: JSON's structural characters are ASCII, and no byte of a multi-byte UTF-8 sequence can
be mistaken for one.
"""

from __future__ import annotations

import re

_SCAN = re.compile(rb'[{}"\\]')
_IN_STRING = re.compile(rb'["\\]')


class JsonArraySplitter:
    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.current = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
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
