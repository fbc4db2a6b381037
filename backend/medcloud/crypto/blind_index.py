"""Blind indexes: keyed HMAC-SHA256 of a normalised value, so that an encrypted field can still be found
by exact value, or by name token and token prefix, without storing anything that reveals the value.

The key (MEDCLOUD_BLIND_INDEX_KEY) is separate from the encryption keys; a `purpose` separates indexes of
different fields, so that equal values in two fields do not share a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import unicodedata

from django.core.exceptions import ImproperlyConfigured

MIN_PREFIX = 2
MAX_PREFIX = 12


def _key() -> bytes:
    value = os.environ.get("MEDCLOUD_BLIND_INDEX_KEY")
    if not value:
        raise ImproperlyConfigured("Set MEDCLOUD_BLIND_INDEX_KEY (base64 of 32 random bytes)")
    key = base64.b64decode(value)
    if len(key) < 32:
        raise ImproperlyConfigured("MEDCLOUD_BLIND_INDEX_KEY must hold at least 32 bytes")
    return key


def normalise(value: str) -> str:
    """Case, accents and spacing do not matter: "  Ëlodie  DUPONT" == "elodie dupont"."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped).strip().casefold()


def blind_index(value: str, *, purpose: str) -> str:
    digest = hmac.new(_key(), f"{purpose}\x00{normalise(value)}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def tokens(value: str) -> list[str]:
    return [t for t in re.split(r"[\s,;^'\-]+", normalise(value)) if t]


def token_prefix_indexes(value: str, *, purpose: str) -> list[str]:
    """Hashes of every name token and of each of its prefixes (2 to 12 characters): what a search for
    "dup" or "elodie" looks up. Store them in an indexed array column."""
    hashes = set()
    for token in tokens(value):
        hashes.add(blind_index(token, purpose=purpose))
        for length in range(MIN_PREFIX, min(len(token), MAX_PREFIX) + 1):
            hashes.add(blind_index(token[:length], purpose=purpose))
    return sorted(hashes)


def search_index(term: str, *, purpose: str) -> str | None:
    """The hash to look up for a user's search term (one token, a prefix of at least 2 characters)."""
    term_tokens = tokens(term)
    if not term_tokens or len(term_tokens[0]) < MIN_PREFIX:
        return None
    return blind_index(term_tokens[0][:MAX_PREFIX], purpose=purpose)
