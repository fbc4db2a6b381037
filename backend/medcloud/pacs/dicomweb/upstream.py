"""Orthanc's DICOMweb plugin, seen from the proxy: one pooled `httpx.AsyncClient` per event loop
(`core/orthanc.async_client`), the headers Orthanc needs (`Forwarded: host=..;proto=..`, from which DICOMweb
1.7 builds its BulkDataURIs), and a streamed GET that answers 503 when Orthanc cannot be reached."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from django.http import HttpRequest, HttpResponse

from medcloud.core.orthanc import async_client

from .errors import error

logger = logging.getLogger("medcloud.pacs.dicomweb")

_clients: dict[int, httpx.AsyncClient] = {}


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    found = _clients.get(id(loop))
    if found is None:
        found = _clients[id(loop)] = async_client(read_timeout=120)
    return found


def upstream_headers(request: HttpRequest) -> dict[str, str]:
    headers = {"Forwarded": f"host={request.get_host()};proto={request.scheme}"}
    accept = request.META.get("HTTP_ACCEPT")
    if accept:
        headers["Accept"] = accept
    return headers


async def send(request: HttpRequest, url: str, params: Any) -> httpx.Response | HttpResponse:
    """Orthanc's streamed answer to GET `url` (the caller closes it), or a 503 error response."""
    orthanc = client()
    upstream = orthanc.build_request("GET", url, params=params, headers=upstream_headers(request))
    try:
        return await orthanc.send(upstream, stream=True)
    except httpx.HTTPError:
        logger.warning("Orthanc unreachable for DICOMweb %s", url.split("?")[0])
        return error(503, "upstream_unavailable", "The image store (Orthanc) is unavailable.")
