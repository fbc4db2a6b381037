"""Maintenance writes on Orthanc's store that operators run (management commands), each with its audit row."""

from __future__ import annotations

from typing import Any

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.orthanc import OrthancClient


def orthanc_storage_rekey() -> dict[str, Any]:
    """Have MedCloud's Orthanc storage plugin seal every stored file again under the current storage key.
    Raises core.orthanc.OrthancError when Orthanc cannot do it."""
    with OrthancClient() as client:
        counts = client.rekey_storage()
    record_event(AuditAction.ORTHANC_STORAGE_REKEY, actor=None, target_type="orthanc", details=counts)
    return counts
