"""The access-controlled DICOMweb proxy, mounted at /dicom-web/ (Orthanc's own DICOMweb root, so that the
BulkDataURIs Orthanc writes into metadata point back at this proxy).

Every request: authenticate (viewer token or API credentials; never a cookie), authorise per study through
`studies_visible_to` (the study UID is in the path, or a required StudyInstanceUID query parameter; a
study-level search is narrowed to the visible studies and filtered again), then stream Orthanc's answer
with an asynchronous client. Orthanc holds only pseudonymised headers: the original PHI is put back
- into QIDO-RS results (the attributes the result carries),
- into WADO-RS metadata (streamed object by object, memory flat in the number of instances),
- into whole instances (multipart/related application/dicom; rewritten one instance at a time).
Frames, bulk data, rendered images and thumbnails carry no PHI attributes and pass through untouched.
Orthanc 1.10 / DICOMweb 1.7 quirks handled here: comma-separated `includefield` is split into repeated
parameters; the public host reaches Orthanc in a `Forwarded: host=...;proto=...` header.

The package, one concern a module: `paths` (which paths, which study), `access` (authentication, the per-study
check, the aggregated audit), `grants` (remembered read grants, the front server's answers), `query` (the QIDO
whitelist and searches), `streams` (one study's answer, PHI restored, streamed), `stow` (STOW-RS),
`upstream` (the Orthanc async client), `views` (the two async views).
"""

from __future__ import annotations

from .grants import authz_remembered
from .views import dicomweb_authz, dicomweb_proxy

__all__ = ["authz_remembered", "dicomweb_authz", "dicomweb_proxy"]
