"""Rotate encryption keys without downtime or loss.

    manage.py rotate_keys                 new primary data key; re-encrypt every encrypted value with it
    manage.py rotate_keys --retire        then delete the data keys that no value uses any more
    manage.py rotate_keys --rewrap-only   re-wrap every data key with the current MEDCLOUD_KEK (KEK rotation:
                                          set the new MEDCLOUD_KEK and the old one in MEDCLOUD_KEK_PREVIOUS)

Readers keep working throughout: old keys stay readable until no value uses them.
"""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from medcloud.crypto import keyring
from medcloud.crypto.fields import encrypted_fields
from medcloud.crypto.models import DataKey

BATCH = 500


class Command(BaseCommand):
    help = "Rotate the data keys (and re-wrap them with the current key-encryption key)."

    def add_arguments(self, parser):
        parser.add_argument("--retire", action="store_true", help="delete data keys no value uses any more")
        parser.add_argument("--rewrap-only", action="store_true", help="only re-wrap data keys with the current KEK")

    def handle(self, *args, **options):
        rewrapped = rewrap_data_keys()
        self.stdout.write(f"re-wrapped {rewrapped} data key(s) with the current KEK")
        if options["rewrap_only"]:
            return
        new_key = keyring.create_primary_key()
        self.stdout.write(f"new primary data key {new_key}")
        total = reencrypt_all(self.stdout.write)
        self.stdout.write(f"re-encrypted {total} value(s)")
        if options["retire"]:
            retired = retire_unused_keys()
            self.stdout.write(f"retired {len(retired)} data key(s): {', '.join(retired) or '-'}")
            if DataKey.objects.filter(is_primary=False).exists():
                grace = retire_grace_seconds()
                self.stdout.write(f"kept demoted keys still in use or demoted less than {grace:.0f} s ago "
                                  "(other processes may still seal with them): run --retire again later")


def rewrap_data_keys() -> int:
    kek_id, kek = keyring.current_kek()
    keks = keyring.known_keks()
    count = 0
    with transaction.atomic():
        for row in DataKey.objects.select_for_update().exclude(kek_id=kek_id):
            old = keks.get(row.kek_id)
            if old is None:
                raise keyring.DecryptionError(
                    f"data key {row.key_id} is wrapped by KEK {row.kek_id}: put it in MEDCLOUD_KEK_PREVIOUS"
                )
            data_key = keyring.unwrap(old, row.key_id, bytes(row.wrapped_key))
            row.wrapped_key, row.kek_id = keyring.wrap(kek, row.key_id, data_key), kek_id
            row.save(update_fields=["wrapped_key", "kek_id"])
            count += 1
    keyring.keyring.reset()
    return count


def reencrypt_all(log=lambda message: None) -> int:
    """Re-seal every encrypted value with the primary key, one small transaction per batch of rows."""
    primary, _ = keyring.keyring.primary()
    total = 0
    for model, fields in encrypted_fields():
        names = [f.name for f in fields]
        pks = list(model._base_manager.values_list("pk", flat=True).order_by("pk"))
        for start in range(0, len(pks), BATCH):
            with transaction.atomic():
                batch = pks[start:start + BATCH]
                rows = model._base_manager.select_for_update().filter(pk__in=batch).only("pk", *names)
                for row in rows:
                    values = {name: getattr(row, name) for name in names}
                    model._base_manager.filter(pk=row.pk).update(**values)
                    total += sum(v is not None for v in values.values())
        log(f"  {model._meta.label}: {', '.join(names)} re-encrypted with {primary}")
    return total


def keys_in_use() -> set[str]:
    from django.db import connection

    used: set[str] = set()
    with connection.cursor() as cursor:
        for model, fields in encrypted_fields():
            table = connection.ops.quote_name(model._meta.db_table)
            for field in fields:
                column = connection.ops.quote_name(field.column)
                sql = f"SELECT DISTINCT split_part({column}, '.', 2) FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
                cursor.execute(sql)
                used.update(row[0] for row in cursor.fetchall())
    return used


def retire_grace_seconds() -> float:
    """A demoted key may still be sealing new values in processes that have not yet re-read the primary key
    (keyring.refresh_seconds()): it is retired only once every process has moved on."""
    return 3 * keyring.refresh_seconds()


def demoted_long_enough(key: DataKey, keys: list[DataKey], now: datetime) -> bool:
    """A key is demoted when the next one is created (keyring.create_primary_key)."""
    successors = [k.created_at for k in keys if k.created_at > key.created_at]
    return bool(successors) and (now - min(successors)).total_seconds() >= retire_grace_seconds()


def retire_unused_keys() -> list[str]:
    with transaction.atomic():
        keys = list(DataKey.objects.select_for_update().order_by("created_at"))
        used = keys_in_use()
        now = timezone.now()
        retired = [k.key_id for k in keys
                   if not k.is_primary and k.key_id not in used and demoted_long_enough(k, keys, now)]
        DataKey.objects.filter(key_id__in=retired).delete()
    keyring.keyring.reset()
    return retired
