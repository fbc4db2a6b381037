"""Key rotation across processes: a process notices a new primary key within the refresh period, and a demoted
key is retired only once every process can have noticed (else values it still seals would name a lost key)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.utils import timezone

from medcloud.crypto import keyring
from medcloud.crypto.management.commands.rotate_keys import retire_unused_keys
from medcloud.crypto.models import DataKey


@pytest.fixture(autouse=True)
def fresh_keyring(settings):
    settings.MEDCLOUD_KEYRING_REFRESH_SECONDS = 10
    keyring.keyring.reset()
    yield
    keyring.keyring.reset()


def rotate_in_another_process() -> str:
    """What keyring.create_primary_key does, without touching this process's cache."""
    kek_id, kek = keyring.current_kek()
    key_id = "dk-" + secrets.token_hex(6)
    DataKey.objects.filter(is_primary=True).update(is_primary=False)
    DataKey.objects.create(key_id=key_id, wrapped_key=keyring.wrap(kek, key_id, AESGCM.generate_key(256)),
                           kek_id=kek_id, is_primary=True)
    return key_id


@pytest.mark.django_db
def test_a_process_follows_a_rotation_made_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    first = keyring.create_primary_key()
    assert keyring.key_id_of(keyring.encrypt(b"v", b"t.c")) == first
    second = rotate_in_another_process()
    assert keyring.key_id_of(keyring.encrypt(b"v", b"t.c")) == first  # within the refresh period
    now = keyring.time.monotonic()
    monkeypatch.setattr(keyring.time, "monotonic", lambda: now + 11)
    assert keyring.key_id_of(keyring.encrypt(b"v", b"t.c")) == second
    # Values sealed with either key stay readable.
    assert keyring.decrypt(keyring.encrypt(b"v", b"t.c"), b"t.c") == b"v"


@pytest.mark.django_db
def test_a_recently_demoted_key_is_not_retired_yet() -> None:
    first = keyring.key_id_of(keyring.encrypt(b"v", b"t.c"))
    second = keyring.create_primary_key()
    # No stored value names `first` (the token above was never saved), but it was demoted just now.
    assert retire_unused_keys() == []
    assert DataKey.objects.filter(key_id=first).exists()
    # As if the rotation had happened 31 s ago (three refresh periods of 10 s, plus one).
    for key_id, age in ((first, 60), (second, 31)):
        DataKey.objects.filter(key_id=key_id).update(created_at=timezone.now() - timedelta(seconds=age))
    assert retire_unused_keys() == [first]
    assert list(DataKey.objects.values_list("key_id", flat=True)) == [second]
