"""The Django cache's serializer: JSON, never pickle.

Django's RedisCache unpickles whatever it reads, so anyone who can write to Redis (a leaked password, another
component on the same server) could run code in every web and worker process. JSON decodes to data only. The
app caches only counters, flags and DRF's throttle histories (lists of floats): all JSON.
"""

from __future__ import annotations

import json


class JSONSerializer:
    """Django's RedisSerializer interface. Integers stay raw Redis integers: the cache's incr() is Redis INCR.
    A value that is not JSON (a pickle planted in Redis) raises ValueError: it is never decoded."""

    def __init__(self, protocol: int | None = None) -> None:  # Django passes nothing; kept for its signature
        pass

    def dumps(self, obj: object) -> bytes | int:
        if type(obj) is int:  # not bool: True must come back as True
            return obj
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes | int) -> object:
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError("the cache holds a value that is not JSON (refused, not decoded)") from error
