"""A small typed client for Orthanc's REST API, with timeouts. Only the backend talks to Orthanc."""

from __future__ import annotations

import functools
import hashlib
import ssl
import time
from dataclasses import dataclass
from typing import Any

import certifi
import httpx
from django.conf import settings


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client shares. httpx builds one per client, loading the CA bundle
    each time (~50 ms, measured in the ingest profile): once per process instead. Orthanc on plain HTTP
    (loopback, the internal network) never uses it; an https ORTHANC_URL is still verified."""
    return ssl.create_default_context(cafile=certifi.where())


class OrthancError(Exception):
    """Orthanc answered with an error, or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def orthanc_id(*identifiers: str) -> str:
    """Orthanc's public identifier of a resource, computed as Orthanc does: the SHA-1 of its DICOM identifiers
    joined by "|" (patient: PatientID; study: + StudyInstanceUID; series: + SeriesInstanceUID; instance:
    + SOPInstanceUID), in five groups of 8 hex digits. Comparing it with what Orthanc answered tells whether
    Orthanc indexed exactly the identifiers MedCloud validated."""
    digest = hashlib.sha1("|".join(identifiers).encode(), usedforsecurity=False).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


@dataclass(frozen=True)
class StoredInstance:
    orthanc_id: str
    parent_study: str
    parent_series: str
    parent_patient: str
    status: str  # "Success" or "AlreadyStored"


@dataclass(frozen=True)
class OrthancSystem:
    version: str
    dicom_aet: str
    database_backend_plugin: str | None
    latency_ms: float


class OrthancClient:
    def __init__(self, base_url: str | None = None, username: str | None = None, password: str | None = None,
                 timeout: float | None = None) -> None:
        self.base_url = (base_url or settings.ORTHANC_URL).rstrip("/")
        self._auth = (username or settings.ORTHANC_USERNAME, password or settings.ORTHANC_PASSWORD)
        self._timeout = httpx.Timeout(timeout or settings.ORTHANC_TIMEOUT_SECONDS, connect=3.0)
        self._http = httpx.Client(base_url=self.base_url, auth=self._auth, timeout=self._timeout,
                                  verify=_tls_context())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OrthancClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in (1, 2):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
                # Orthanc closes a kept-alive connection once it has been idle for a while; a request that meets
                # that close on a pooled connection is sent once more, on a new one. Every call of this client
                # may be repeated (storing the same instance again is answered "AlreadyStored").
                if attempt == 2:
                    raise OrthancError(f"Orthanc is unreachable: {exc.__class__.__name__}") from exc
            except httpx.HTTPError as exc:
                raise OrthancError(f"Orthanc is unreachable: {exc.__class__.__name__}") from exc
        if response.status_code >= 400:
            raise OrthancError(f"Orthanc answered {response.status_code} to {method} {path}", response.status_code)
        return response

    def system(self) -> OrthancSystem:
        started = time.perf_counter()
        data = self._request("GET", "/system").json()
        return OrthancSystem(
            version=data["Version"],
            dicom_aet=data["DicomAet"],
            database_backend_plugin=data.get("DatabaseBackendPlugin"),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def plugins(self) -> list[str]:
        return list(self._request("GET", "/plugins").json())

    def rekey_storage(self) -> dict[str, Any]:
        """Have MedCloud's storage plugin seal every attachment again under the current storage key."""
        return dict(self._request("POST", "/medcloud/plugin/rekey", timeout=None).json())

    def store_instance(self, dicom_bytes: bytes) -> StoredInstance:
        data = self._request(
            "POST", "/instances", content=dicom_bytes, headers={"Content-Type": "application/dicom"}
        ).json()
        return StoredInstance(
            orthanc_id=data["ID"],
            parent_study=data["ParentStudy"],
            parent_series=data["ParentSeries"],
            parent_patient=data["ParentPatient"],
            status=data["Status"],
        )

    def instance_file(self, orthanc_id: str) -> bytes:
        return self._request("GET", f"/instances/{orthanc_id}/file").content

    def instance_tags(self, orthanc_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/instances/{orthanc_id}/simplified-tags").json())

    def study(self, orthanc_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/studies/{orthanc_id}").json())

    def instance(self, orthanc_id: str) -> dict[str, Any] | None:
        """An instance's summary (ParentSeries, MainDicomTags, ...), or None when Orthanc does not hold it."""
        try:
            return dict(self._request("GET", f"/instances/{orthanc_id}").json())
        except OrthancError as exc:
            if exc.status_code == 404:
                return None
            raise

    def series(self, orthanc_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/series/{orthanc_id}").json())

    def studies_expanded(self) -> list[dict[str, Any]]:
        """Every study Orthanc holds, with its MainDicomTags and LastUpdate (the reconciliation's view)."""
        return list(self._request("GET", "/studies", params={"expand": ""}).json())

    def delete(self, level: str, orthanc_id: str) -> None:
        if level not in {"patients", "studies", "series", "instances"}:
            raise ValueError(f"unknown Orthanc level {level}")
        self._request("DELETE", f"/{level}/{orthanc_id}")

    def study_series(self, orthanc_id: str) -> list[dict[str, Any]]:
        """The series of a study, each with its MainDicomTags and its list of instances."""
        return list(self._request("GET", f"/studies/{orthanc_id}/series").json())

    def lookup(self, dicom_id: str) -> list[dict[str, Any]]:
        """Orthanc resources whose DICOM identifier (a UID, a PatientID) is `dicom_id`."""
        return list(self._request("POST", "/tools/lookup", content=dicom_id.encode()).json())

    def instances_of_study(self, study_uid: str) -> list[str]:
        """The Orthanc ids of the instances of the study with this StudyInstanceUID (empty if none)."""
        found = [r["ID"] for r in self.lookup(study_uid) if r.get("Type") == "Study"]
        if not found:
            return []
        return [i["ID"] for i in self._request("GET", f"/studies/{found[0]}/instances").json()]


def async_client(base_url: str | None = None, *, read_timeout: float | None = None) -> httpx.AsyncClient:
    """An asynchronous client for streaming (the DICOMweb proxy): same credentials, pooled connections, a
    short connect timeout and a read timeout per chunk (not per response, so long downloads can stream)."""
    return httpx.AsyncClient(
        base_url=(base_url or settings.ORTHANC_URL).rstrip("/"),
        auth=(settings.ORTHANC_USERNAME, settings.ORTHANC_PASSWORD),
        timeout=httpx.Timeout(read_timeout or settings.ORTHANC_TIMEOUT_SECONDS, connect=3.0),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        verify=_tls_context(),
    )
