"""AES-256-GCM values and blind indexes (the model-field round trips are tested with the models that use them)."""

from __future__ import annotations

import base64
import secrets

import pytest

from medcloud.crypto import keyring
from medcloud.crypto.blind_index import blind_index, normalise, search_index, token_prefix_indexes
from medcloud.crypto.management.commands.rotate_keys import rewrap_data_keys
from medcloud.crypto.models import DataKey


@pytest.fixture(autouse=True)
def fresh_keyring():
    keyring.keyring.reset()
    yield
    keyring.keyring.reset()


@pytest.mark.django_db
def test_round_trip_names_its_key_and_binds_its_place() -> None:
    token = keyring.encrypt(b"Jane Doe", b"patients.first_name")
    assert token.startswith("mc1.dk-") and "Jane" not in token
    assert keyring.decrypt(token, b"patients.first_name") == b"Jane Doe"
    with pytest.raises(keyring.DecryptionError, match="does not belong here"):
        keyring.decrypt(token, b"patients.last_name")
    assert keyring.encrypt(b"Jane Doe", b"t.c") != keyring.encrypt(b"Jane Doe", b"t.c")  # random nonces


@pytest.mark.django_db
def test_tampered_or_malformed_values_are_refused() -> None:
    token = keyring.encrypt(b"secret", b"t.c")
    prefix, key_id, blob = token.split(".", 2)
    raw = bytearray(base64.urlsafe_b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(keyring.DecryptionError):
        keyring.decrypt(f"{prefix}.{key_id}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", b"t.c")
    with pytest.raises(keyring.DecryptionError):
        keyring.decrypt("not-a-token", b"t.c")


@pytest.mark.django_db
def test_old_values_stay_readable_after_a_new_primary_key() -> None:
    old = keyring.encrypt(b"value", b"t.c")
    new_key = keyring.create_primary_key()
    assert keyring.key_id_of(keyring.encrypt(b"value", b"t.c")) == new_key
    assert keyring.decrypt(old, b"t.c") == b"value"


@pytest.mark.django_db
def test_kek_rotation_rewraps_data_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    token = keyring.encrypt(b"value", b"t.c")
    old_kek = __import__("os").environ["MEDCLOUD_KEK"]
    new_kek = base64.b64encode(secrets.token_bytes(32)).decode()
    monkeypatch.setenv("MEDCLOUD_KEK", new_kek)
    monkeypatch.setenv("MEDCLOUD_KEK_PREVIOUS", old_kek)
    assert rewrap_data_keys() >= 1
    monkeypatch.delenv("MEDCLOUD_KEK_PREVIOUS")  # the old KEK is gone for good
    keyring.keyring.reset()
    assert keyring.decrypt(token, b"t.c") == b"value"
    assert set(DataKey.objects.values_list("kek_id", flat=True)) == {keyring.current_kek()[0]}


def test_blind_index_normalises_and_separates_purposes() -> None:
    assert normalise("  Élodie   DUPONT ") == "elodie dupont"
    assert blind_index("Élodie Dupont", purpose="name") == blind_index("elodie  dupont", purpose="name")
    assert blind_index("Dupont", purpose="name") != blind_index("Dupont", purpose="mrn")
    hashes = token_prefix_indexes("Élodie Dupont-Martin", purpose="name")
    for term in ("el", "elod", "Dupont", "mart", "MARTIN"):
        assert search_index(term, purpose="name") in hashes
    assert search_index("x", purpose="name") is None
    assert search_index("zz", purpose="name") not in hashes
