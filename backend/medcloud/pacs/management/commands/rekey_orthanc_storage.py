"""Seal every file of Orthanc's storage again under the current storage key (after a rotation).

    # 1. new ORTHANC_STORAGE_KEY / ORTHANC_STORAGE_KEY_ID; the old "id:key" in ORTHANC_STORAGE_KEYS_PREVIOUS
    # 2. restart Orthanc (new files use the new key, old ones stay readable), then:
    manage.py rekey_orthanc_storage
    # 3. remove the old key from ORTHANC_STORAGE_KEYS_PREVIOUS and restart Orthanc

Orthanc keeps serving meanwhile: each file is replaced atomically, readable under either key throughout.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from medcloud.core.orthanc import OrthancError
from medcloud.pacs.maintenance import orthanc_storage_rekey


class Command(BaseCommand):
    help = "Re-encrypt Orthanc's stored files under the current ORTHANC_STORAGE_KEY (after a key rotation)."

    def handle(self, *args, **options):
        try:
            counts = orthanc_storage_rekey()
        except OrthancError as exc:
            raise CommandError(f"Orthanc did not re-key its storage: {exc}") from exc
        self.stdout.write(f"{counts['attachments']} file(s) of {counts['instances']} instance(s) checked; "
                          f"{counts['rekeyed']} sealed again under storage key {counts['storage_key_id']}")
