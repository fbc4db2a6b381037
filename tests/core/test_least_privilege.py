"""Least privilege between components (security review, finding 7): Orthanc's PostgreSQL role reaches its own
database only, Redis refuses a client without the password, and the Django cache never unpickles what it reads.
Against the real PostgreSQL and Redis that `make test` starts."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import pytest
import redis
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


def test_redis_refuses_a_client_without_the_password() -> None:
    url = urlparse(settings.REDIS_URL)
    assert url.password, "the project-local Redis runs with a password (REDIS_PASSWORD)"
    anonymous = redis.Redis(host=url.hostname, port=url.port, socket_timeout=2)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=url.hostname, port=url.port, password="wrong", socket_timeout=2).ping()
    assert redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()


def test_the_cache_round_trips_what_the_app_stores() -> None:
    from django.core.cache import cache

    key = f"test:lp:{os.getpid()}"
    try:
        # lockout counters (add + incr: a raw Redis integer), flags, DRF's throttle histories (lists of floats)
        assert cache.add(f"{key}:count", 0, timeout=30)
        assert cache.incr(f"{key}:count") == 1 and cache.incr(f"{key}:count", 5) == 6
        assert cache.get(f"{key}:count") == 6
        assert cache.touch(f"{key}:count", 30)
        cache.set(f"{key}:flag", 1, timeout=30)
        assert cache.get(f"{key}:flag") == 1
        history = [1733145600.123456, 1733145601.5, 1733145602.0]
        cache.set(f"{key}:history", history, timeout=30)
        assert cache.get(f"{key}:history") == history
        for value in (True, False, 0.5, "text", "123", {"a": [1, 2]}, None, []):
            cache.set(f"{key}:v", value, timeout=30)
            got = cache.get(f"{key}:v", "missing")
            assert got == value and type(got) is type(value), (value, got)
        cache.set_many({f"{key}:m1": [0.25], f"{key}:m2": 7}, timeout=30)
        assert cache.get_many([f"{key}:m1", f"{key}:m2"]) == {f"{key}:m1": [0.25], f"{key}:m2": 7}
        with pytest.raises(TypeError):  # what JSON cannot hold is refused when stored, not turned into a pickle
            cache.set(f"{key}:bad", {1, 2}, timeout=30)
    finally:
        cache.delete_many([f"{key}:{s}" for s in ("count", "flag", "history", "v", "m1", "m2", "bad")])


class _Plant:
    """A pickle that creates a file when it is unpickled: what an attacker with write access to Redis plants."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_planted_in_redis_is_never_unpickled(tmp_path: Path) -> None:
    from django.core.cache import cache

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Plant(marker))
    key = f"test:lp:planted:{os.getpid()}"
    raw = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    raw.set(cache.make_key(key), payload, ex=30)
    try:
        with pytest.raises(ValueError, match="not JSON"):
            cache.get(key)
        with pytest.raises(ValueError, match="not JSON"):
            cache.get_many([key])
        assert not marker.exists()
    finally:
        raw.delete(cache.make_key(key))
    pickle.loads(payload)  # noqa: S301 - proves that the payload was live: Django's default would have run it
    assert marker.exists()
