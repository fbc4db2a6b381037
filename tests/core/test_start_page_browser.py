"""The start page in real headless Chromium (Debian's), served over HTTPS by the real server."""

from __future__ import annotations

import pytest

from tests.conftest import LOG_DIR
from tests.support.browser import chromium_page


@pytest.mark.django_db(transaction=True)
def test_start_page_shows_platform_status(live_https: str, live_worker: None) -> None:
    with chromium_page() as page:
        page.goto(f"{live_https}/")
        page.get_by_test_id("overall-status").wait_for(timeout=15000)
        assert page.get_by_test_id("overall-status").inner_text() == "Overall: all systems up"
        assert page.get_by_text("orthanc: up").is_visible()
        page.screenshot(path=str(LOG_DIR / "screenshots" / "start-page.png"), full_page=True)
