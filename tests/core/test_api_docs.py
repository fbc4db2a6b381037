"""The interactive API docs load nothing from outside this server (security review, finding 8: Swagger UI
`@latest` from a public CDN ran with the user's session on the patient-data origin, and the page was blank on
a network without internet). Checked over HTTPS through nginx, and in headless Chromium on this machine,
which has no route to any CDN."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import LOG_DIR
from tests.support.browser import chromium_page

pytestmark = [pytest.mark.services]


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_is_served_from_this_origin_and_renders(live_https: str) -> None:
    with httpx.Client(base_url=live_https, verify=False, timeout=30) as client:
        page = client.get("/api/docs/")
        assert page.status_code == 200
        html = page.text
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "an absolute URL in the docs page"
        assert "cdn" not in html.lower() and "jsdelivr" not in html and "unpkg" not in html
        assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
        assert any(a.endswith(".js") for a in assets), html[:2000]
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
    with chromium_page() as browser:
        outside: list[str] = []
        browser.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_https) else None)
        browser.goto(f"{live_https}/api/docs/")
        browser.locator(".swagger-ui .info .title").wait_for(timeout=20000)
        assert "MedCloud API" in browser.locator(".swagger-ui .info .title").inner_text()
        browser.screenshot(path=str(LOG_DIR / "screenshots" / "api-docs.png"))
        assert not [u for u in outside if not u.startswith(("data:", "blob:"))], outside
