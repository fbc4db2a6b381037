"""Model fields encrypted with AES-256-GCM (see keyring.py). The associated data is "<table>.<column>".

Encrypted values cannot be filtered on (each encryption is randomised): search them through a blind index
(blind_index.py) stored in a column of its own.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import FieldError
from django.db import models

from . import keyring


class _EncryptedMixin:
    """Stores a value as the text token of keyring.encrypt; subclasses convert to and from bytes."""

    encrypted = True
    _allowed_lookups = {"isnull"}

    def aad(self) -> bytes:
        return f"{self.model._meta.db_table}.{self.column}".encode()  # type: ignore[attr-defined]

    def to_bytes(self, value: Any) -> bytes:
        raise NotImplementedError

    def from_bytes(self, data: bytes) -> Any:
        raise NotImplementedError

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return keyring.encrypt(self.to_bytes(value), self.aad())

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.from_bytes(keyring.decrypt(value, self.aad()))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in self._allowed_lookups:
            raise FieldError(
                f"{self.__class__.__name__} cannot be filtered with '{lookup_name}': search a blind index instead"
            )
        return super().get_lookup(lookup_name)  # type: ignore[misc]

    def deconstruct(self) -> Any:
        return super().deconstruct()  # type: ignore[misc]


class EncryptedTextField(_EncryptedMixin, models.TextField):
    def to_bytes(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def from_bytes(self, data: bytes) -> str:
        return data.decode("utf-8")

    def to_python(self, value: Any) -> Any:
        return value if value is None else str(value)


class EncryptedBinaryField(_EncryptedMixin, models.TextField):
    """Binary content (a certificate file, a recovery secret). Kept for small payloads (a few MB)."""

    def to_bytes(self, value: Any) -> bytes:
        return bytes(value)

    def from_bytes(self, data: bytes) -> bytes:
        return data

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: Any) -> str:
        return ""  # never serialise plaintext binary content in dumps


class EncryptedJSONField(_EncryptedMixin, models.TextField):
    def to_bytes(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def from_bytes(self, data: bytes) -> Any:
        return json.loads(data)

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedDateField(_EncryptedMixin, models.TextField):
    """A date (a birth date, say) kept encrypted; compared in Python, never in SQL."""

    def to_bytes(self, value: Any) -> bytes:
        return value.isoformat().encode() if hasattr(value, "isoformat") else str(value).encode()

    def from_bytes(self, data: bytes) -> Any:
        import datetime

        return datetime.date.fromisoformat(data.decode())

    def to_python(self, value: Any) -> Any:
        import datetime

        if value is None or isinstance(value, datetime.date):
            return value
        return datetime.date.fromisoformat(str(value))


def encrypted_fields() -> list[tuple[type[models.Model], list[models.Field]]]:
    """Every (model, encrypted fields) pair of the project, for key rotation and the plaintext audit."""
    from django.apps import apps

    result = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]
        if fields:
            result.append((model, fields))
    return result
