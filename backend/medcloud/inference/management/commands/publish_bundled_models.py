"""`manage.py publish_bundled_models`: publish MedCloud's bundled models (the Y-Net) to everyone, or their new
version when the package changed. `make run` runs it at every start; idempotent."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from medcloud.inference.services import bundled_models_ensure


class Command(BaseCommand):
    help = "Publish the bundled models (SDK packages in the code base) to everyone."

    def handle(self, *args, **options) -> None:
        for model in bundled_models_ensure():
            version = model.current_version
            self.stdout.write(f"{model.name}: version {version.number if version else '-'} "
                              f"({version.sha256[:12] if version else 'none'})")
