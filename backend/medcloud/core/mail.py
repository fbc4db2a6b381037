"""The local mail backend: Django's file backend, in a folder only this user can read.

Activation and password-reset links are credentials: the console backend printed them into the logs that
every operator (and log collector) reads. Production sends mail over SMTP (settings/production.py).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.mail.backends.filebased import EmailBackend


class PrivateFileEmailBackend(EmailBackend):
    def __init__(self, *args, file_path: str | None = None, **kwargs) -> None:
        path = os.path.abspath(file_path or settings.EMAIL_FILE_PATH)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # makedirs leaves an existing folder's mode (and honours the umask) as it is
        super().__init__(*args, file_path=path, **kwargs)
