"""`manage.py reconcile_orthanc`: finish failed uploads' rollbacks and report (and remove, after the grace
period) Orthanc studies that no MedCloud study owns. The Celery worker runs the same at start and periodically."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from medcloud.pacs.services import orthanc_reconcile


class Command(BaseCommand):
    help = "Reconcile Orthanc against MedCloud's database (ingest journal replay, orphan studies)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--stale-after", type=float, default=None,
                            help="replay journals of uploads older than this many seconds (default: settings)")
        parser.add_argument("--orphan-grace", type=float, default=None,
                            help="remove orphan studies not updated for this many seconds (default: settings)")
        parser.add_argument("--report-only", action="store_true", help="list orphan studies, remove none")

    def handle(self, *args, **options) -> None:
        report = orthanc_reconcile(stale_after_seconds=options["stale_after"],
                                   orphan_grace_seconds=options["orphan_grace"],
                                   remove_orphans=not options["report_only"])
        self.stdout.write(f"replayed journals: {report.replayed_journals}; removed instances: "
                          f"{report.removed_instances}; orphan studies: {len(report.orphan_studies)} "
                          f"(removed {report.removed_orphans}); errors: {report.errors}")
