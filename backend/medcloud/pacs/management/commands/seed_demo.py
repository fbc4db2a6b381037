"""Create the demo accounts (idempotent). Their password is MEDCLOUD_DEMO_PASSWORD from the .env."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

DEMO_USERS = [
    ("admin@medcloud.local", "admin", ""),
    ("registrar@medcloud.local", "health_professional", "registrar"),
    ("radiologist@medcloud.local", "health_professional", "radiologist"),
    ("specialist@medcloud.local", "health_professional", "specialist"),
    ("researcher@medcloud.local", "researcher", ""),
]


class Command(BaseCommand):
    help = "Create the demo accounts, or list them with --list."

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="only print the demo accounts")

    def handle(self, *args, **options):
        if options["list"]:
            for email, role, clinical_role in DEMO_USERS:
                self.stdout.write(f"{email:32} {role}{' / ' + clinical_role if clinical_role else ''}")
            return
        password = os.environ.get("MEDCLOUD_DEMO_PASSWORD")
        if not password:
            raise CommandError("MEDCLOUD_DEMO_PASSWORD is not set (scripts/ensure_env.py writes it to .env)")
        User = get_user_model()
        created = 0
        for email, role, clinical_role in DEMO_USERS:
            if User.objects.filter(email=email).exists():
                continue
            if role == "admin":
                User.objects.create_superuser(email, password)
            else:
                # Demo health professionals come with their certificate already validated.
                verified_at = timezone.now() if role == "health_professional" else None
                User.objects.create_user(email, password, role=role, clinical_role=clinical_role,
                                         clinical_verified_at=verified_at)
            created += 1
        self.stdout.write(f"demo data: {created} account(s) created")
        # A demo study (the real MR series, synthetic patient) for the radiologist, shared with the specialist.
        from medcloud.pacs.demo import seed_demo_study

        self.stdout.write(seed_demo_study(User.objects.get(email="radiologist@medcloud.local"),
                                          User.objects.get(email="specialist@medcloud.local")))
