"""Background work of the PACS: the reconciliation of Orthanc against the database (services.orthanc_reconcile),
every PACS_RECONCILE_INTERVAL_SECONDS (celery beat, embedded in the worker by `make run` and the containers;
`make run` also runs it once at start)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="pacs.reconcile_orthanc", ignore_result=True)
def reconcile_orthanc() -> dict[str, Any]:
    from .services import orthanc_reconcile

    report = orthanc_reconcile()
    return {"replayed_journals": report.replayed_journals, "removed_instances": report.removed_instances,
            "orphan_studies": len(report.orphan_studies), "removed_orphans": report.removed_orphans,
            "errors": report.errors}
