"""Encrypted storage area for Orthanc: every attachment is sealed with AES-256-GCM before it is written.

File format (one file per attachment, laid out like Orthanc's own storage: <dir>/ab/cd/<uuid>):

    b"MCE1" | len(key_id) (1 byte) | key_id (ascii) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)

The associated data binds a file to its attachment ("<uuid>:<content type>"): a file moved or renamed
fails to decrypt instead of serving another patient's image. Stdlib + `cryptography` only (the system
python3-cryptography package that Orthanc's Python plugin sees).
"""

import base64
import os
import secrets
import threading

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"MCE1"
NONCE_BYTES = 12


class StorageKeyError(Exception):
    pass


def _decode(value, name):
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise StorageKeyError(f"{name} must be base64") from exc
    if len(key) != 32:
        raise StorageKeyError(f"{name} must hold 32 bytes (AES-256), it holds {len(key)}")
    return key


def keys_from_environment(environ):
    """(primary key id, {key id: key}) from ORTHANC_STORAGE_KEY[_ID] and ORTHANC_STORAGE_KEYS_PREVIOUS."""
    value = environ.get("ORTHANC_STORAGE_KEY")
    if not value:
        raise StorageKeyError("ORTHANC_STORAGE_KEY is not set: refusing to store DICOM files unencrypted")
    primary = environ.get("ORTHANC_STORAGE_KEY_ID") or "k1"
    keys = {primary: _decode(value, "ORTHANC_STORAGE_KEY")}
    for item in filter(None, (v.strip() for v in environ.get("ORTHANC_STORAGE_KEYS_PREVIOUS", "").split(","))):
        key_id, _, encoded = item.partition(":")
        keys.setdefault(key_id, _decode(encoded, f"ORTHANC_STORAGE_KEYS_PREVIOUS[{key_id}]"))
    return primary, keys


def seal(key_id, key, plaintext, aad):
    kid = key_id.encode("ascii")
    if not 0 < len(kid) < 256:
        raise StorageKeyError("key id must hold 1 to 255 ASCII characters")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return b"".join((MAGIC, bytes([len(kid)]), kid, nonce, AESGCM(key).encrypt(nonce, plaintext, aad)))


def sealed_key_id(blob):
    if blob[:4] != MAGIC:
        raise StorageKeyError("not a MedCloud encrypted attachment")
    return blob[5:5 + blob[4]].decode("ascii")


def open_sealed(keys, blob, aad):
    key_id = sealed_key_id(blob)
    kid_len = blob[4]
    key = keys.get(key_id)
    if key is None:
        raise StorageKeyError(f"attachment sealed with unknown storage key {key_id}")
    start = 5 + kid_len
    return AESGCM(key).decrypt(blob[start:start + NONCE_BYTES], blob[start + NONCE_BYTES:], aad)


class EncryptedStorage:
    def __init__(self, root, primary_id, keys, fsync=True):
        self.root = root
        self.primary_id = primary_id
        self.keys = keys
        self.fsync = fsync
        self._writing = threading.Lock()  # a re-key never resurrects an attachment removed meanwhile

    def path(self, uuid):
        if len(uuid) < 4 or "/" in uuid or uuid.startswith("."):
            raise ValueError("bad attachment uuid")
        return os.path.join(self.root, uuid[0:2], uuid[2:4], uuid)

    @staticmethod
    def aad(uuid, content_type):
        return f"{uuid}:{content_type}".encode("ascii")

    def create(self, uuid, content_type, data):
        path = self.path(uuid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        blob = seal(self.primary_id, self.keys[self.primary_id], bytes(data), self.aad(uuid, content_type))
        tmp = f"{path}.tmp-{secrets.token_hex(4)}"
        with open(tmp, "wb") as handle:
            handle.write(blob)
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)

    def read(self, uuid, content_type):
        with open(self.path(uuid), "rb") as handle:
            blob = handle.read()
        return open_sealed(self.keys, blob, self.aad(uuid, content_type))

    def remove(self, uuid, content_type):
        with self._writing:
            try:
                os.remove(self.path(uuid))
            except FileNotFoundError:
                pass

    def rekey(self, uuid, content_type):
        """Seal one attachment again under the primary key. True if it was under another (listed) key; False
        if it already was, or is gone. After a rotation every attachment is re-keyed this way (the plugin's
        POST /medcloud/plugin/rekey); then the previous key can leave ORTHANC_STORAGE_KEYS_PREVIOUS."""
        with self._writing:
            try:
                with open(self.path(uuid), "rb") as handle:
                    blob = handle.read()
            except FileNotFoundError:
                return False
            if sealed_key_id(blob) == self.primary_id:
                return False
            aad = self.aad(uuid, content_type)
            self.create(uuid, content_type, open_sealed(self.keys, blob, aad))
            return True
