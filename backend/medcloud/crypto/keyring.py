"""Data keys, wrapped by the key-encryption key (KEK), and the AES-256-GCM primitives that use them.

Stored format of an encrypted value (text, so it fits any text column):  mc1.<key_id>.<base64url(nonce|ct|tag)>
The associated data binds each value to its table and column: a value copied elsewhere fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

PREFIX = "mc1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value could not be decrypted: wrong place, unknown key, or tampered with."""


def _decode_key(value: str, name: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be base64") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(f"{name} must hold 32 bytes (AES-256), it holds {len(key)}")
    return key


def kek_fingerprint(kek: bytes) -> str:
    return hashlib.sha256(b"medcloud-kek" + kek).hexdigest()[:16]


def current_kek() -> tuple[str, bytes]:
    value = os.environ.get("MEDCLOUD_KEK")
    if not value:
        raise ImproperlyConfigured("Set MEDCLOUD_KEK (base64 of 32 random bytes): it protects every encrypted field")
    kek = _decode_key(value, "MEDCLOUD_KEK")
    return kek_fingerprint(kek), kek


def known_keks() -> dict[str, bytes]:
    """The current KEK and the previous ones (MEDCLOUD_KEK_PREVIOUS, comma-separated) during a KEK rotation."""
    keks = dict([current_kek()])
    for value in filter(None, (v.strip() for v in os.environ.get("MEDCLOUD_KEK_PREVIOUS", "").split(","))):
        kek = _decode_key(value, "MEDCLOUD_KEK_PREVIOUS")
        keks[kek_fingerprint(kek)] = kek
    return keks


def wrap(kek: bytes, key_id: str, data_key: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, b"medcloud-data-key:" + key_id.encode())


def unwrap(kek: bytes, key_id: str, wrapped: bytes) -> bytes:
    try:
        aad = b"medcloud-data-key:" + key_id.encode()
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionError(f"data key {key_id} cannot be unwrapped with the configured KEK") from exc


def refresh_seconds() -> float:
    """How long a process trusts its cached idea of the primary key. Another process may rotate keys: after
    this long every process seals new values with the new primary key (tests use 0: always re-read)."""
    from django.conf import settings

    return float(getattr(settings, "MEDCLOUD_KEYRING_REFRESH_SECONDS", 10))


class Keyring:
    """Process-wide cache of unwrapped data keys. Reloads from the database when it meets an unknown key id
    (another process rotated keys), and re-reads which key is primary every `refresh_seconds()`, so that no
    process keeps sealing values with a key that a rotation in another process demoted (and may retire)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._keys: dict[str, AESGCM] = {}
        self._primary: str | None = None
        self._loaded_at = 0.0

    def reset(self) -> None:
        with self._lock:
            self._keys, self._primary, self._loaded_at = {}, None, 0.0

    def _load(self) -> None:
        from .models import DataKey

        keks = known_keks()
        keys, primary = {}, None
        for row in DataKey.objects.all():
            kek = keks.get(row.kek_id)
            if kek is None:
                continue  # wrapped by a KEK we no longer hold: its values are unreadable, reported on use
            keys[row.key_id] = AESGCM(unwrap(kek, row.key_id, bytes(row.wrapped_key)))
            if row.is_primary:
                primary = row.key_id
        self._keys, self._primary, self._loaded_at = keys, primary, time.monotonic()

    def primary(self) -> tuple[str, AESGCM]:
        with self._lock:
            if self._primary is None or time.monotonic() - self._loaded_at >= refresh_seconds():
                self._load()
            if self._primary is None:
                try:
                    create_primary_key()
                except IntegrityError:
                    pass  # another process created the first primary key at the same moment: use theirs
                self._load()
                # The new key may be rolled back with the caller's transaction (and the values it sealed with it):
                # do not trust it beyond this call.
                self._loaded_at = 0.0
            assert self._primary is not None
            return self._primary, self._keys[self._primary]

    def get(self, key_id: str) -> AESGCM:
        with self._lock:
            if key_id not in self._keys:
                self._load()
            try:
                return self._keys[key_id]
            except KeyError:
                raise DecryptionError(f"unknown data key {key_id}") from None


keyring = Keyring()


def create_primary_key() -> str:
    """Create a new data key and make it the primary one (the key every new value is sealed with)."""
    from .models import DataKey

    kek_id, kek = current_kek()
    key_id = "dk-" + secrets.token_hex(6)
    with transaction.atomic():
        # A primary key is demoted only here, so a key's demotion time is its successor's created_at.
        DataKey.objects.select_for_update().filter(is_primary=True).update(is_primary=False)
        DataKey.objects.create(key_id=key_id, wrapped_key=wrap(kek, key_id, AESGCM.generate_key(256)), kek_id=kek_id,
                               is_primary=True)
    keyring.reset()
    return key_id


def encrypt(plaintext: bytes, aad: bytes) -> str:
    key_id, aead = keyring.primary()
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = aead.encrypt(nonce, plaintext, aad + b"|" + key_id.encode())
    return f"{PREFIX}.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def key_id_of(token: str) -> str:
    prefix, key_id, _ = token.split(".", 2)
    if prefix != PREFIX:
        raise DecryptionError("not a MedCloud encrypted value")
    return key_id


def decrypt(token: str, aad: bytes) -> bytes:
    try:
        key_id = key_id_of(token)
        blob = base64.urlsafe_b64decode(token.split(".", 2)[2])
    except (ValueError, IndexError) as exc:
        raise DecryptionError("malformed encrypted value") from exc
    try:
        return keyring.get(key_id).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad + b"|" + key_id.encode())
    except InvalidTag as exc:
        raise DecryptionError("encrypted value does not belong here or was altered") from exc
