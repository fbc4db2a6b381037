"""Least privilege between components (security review, finding 7): Orthanc's PostgreSQL role reaches its own
database only. Against the real PostgreSQL that `make test` starts."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import pytest
from django.conf import settings

pytestmark = pytest.mark.services


def _connect(database: str, user: str, password: str):
    db = settings.DATABASES["default"]
    return psycopg2.connect(host=db["HOST"], port=db["PORT"], dbname=database, user=user, password=password,
                            connect_timeout=5)


def test_orthancs_database_role_reaches_its_own_database_only(test_database_name: str) -> None:
    role, password = os.environ.get("ORTHANC_DB_USER") or "orthanc", os.environ["ORTHANC_DB_PASSWORD"]
    main_db = urlparse(settings.DATABASE_URL).path.lstrip("/")
    orthanc_db = os.environ.get("ORTHANC_DATABASE_NAME") or f"{main_db}_orthanc"

    with _connect(orthanc_db, role, password) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                       "WHERE rolname = current_user")
        assert cursor.fetchone() == (role, False, False, False)
        # it owns Orthanc's index: the tables Orthanc created are its own
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> current_user")
        assert cursor.fetchone() == (0,)
    conn.close()

    # The backend's database (and the test copy of it) refuses it; so does a wrong password.
    for database in ("medcloud", test_database_name):
        with pytest.raises(psycopg2.OperationalError, match="rejects connection|CONNECT privilege|denied"):
            _connect(database, role, password)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        _connect(orthanc_db, role, password + "x")


def test_orthancs_configuration_holds_its_own_credentials_only() -> None:
    config = Path(settings.REPO_ROOT, ".var", "orthanc", "config", "orthanc.json")
    text = config.read_text()
    assert f'"Username" : "{os.environ.get("ORTHANC_DB_USER") or "orthanc"}"' in text
    assert os.environ["ORTHANC_DB_PASSWORD"] in text
    assert '"Username" : "postgres"' not in text
    assert oct(config.stat().st_mode & 0o777) == "0o600"

