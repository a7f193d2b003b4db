"""One walk over every page of the app, shared by the header and CSRF suites: each GET route of
the browser's (not /api/v1), with real objects of a company in its path, fetched as that
company's admin."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.factories import Company, create_company
from tests.security.support import Route, real_values, urls, web_routes


@dataclass(frozen=True)
class Fetched:
    route: Route
    url: str
    response: httpx.Response

    @property
    def is_html(self) -> bool:
        return self.response.headers.get("content-type", "").startswith("text/html")


@pytest.fixture(scope="package")
async def walk_company(app, rt) -> Company:
    company = await create_company(rt, app)
    yield company
    await company.close()


@pytest.fixture(scope="package")
async def walked(app, walk_company) -> list[Fetched]:
    values = await real_values(walk_company)
    client = walk_company.people["ayla"].client
    fetched = []
    for route in web_routes(app):
        if route.method != "GET":
            continue
        for url in urls(route, values):
            fetched.append(Fetched(route, url, await client.get(url)))
    return fetched
