"""The client address that throttles count by: X-Forwarded-For is trusted only as far as configured proxies."""

from __future__ import annotations

from django.test import RequestFactory

from medcloud.accounts.throttling import client_address


def test_forwarded_for_is_ignored_without_trusted_proxies(settings) -> None:
    settings.MEDCLOUD_NUM_PROXIES = 0
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="10.0.0.5")
    assert client_address(request) == "10.0.0.5"


def test_behind_one_proxy_the_address_it_saw_counts(settings) -> None:
    settings.MEDCLOUD_NUM_PROXIES = 1
    # The client forged the first entry; nginx appended the address it really saw.
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", REMOTE_ADDR="172.18.0.3")
    assert client_address(request) == "203.0.113.7"
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="172.18.0.3")) == "172.18.0.3"
