"""The page's server side without a browser: the catalog endpoints it calls, the page and its assets, offline docs.

Over the real PASTRY slice and its real MiniLM index, no LLM (tests/test_web.py
drives the same page in Chromium).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from real_data import BAGELS_4OZ, pastry_index, pastry_slice

from agent.api import ApiSettings, create_app
from agent.pipeline import Shelfcast

TOKEN = "catalog-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    app = create_app(Shelfcast(pastry_slice(), pastry_index(), None), ApiSettings(token=TOKEN, max_text_chars=40))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_search_returns_distinct_titles_best_first_each_as_its_best_seller(api: TestClient) -> None:
    response = api.post("/products/search", json={"text": "bagels 4 oz", "k": 5}, headers=AUTH)
    assert response.status_code == 200, response.text
    found = response.json()
    assert 1 <= len(found) <= 5
    assert found[0]["unique_id"] == BAGELS_4OZ and found[0]["units"] == 1531
    assert len({c["title"] for c in found}) == len(found)
    assert [c["score"] for c in found] == sorted((c["score"] for c in found), reverse=True)


def test_search_by_id_returns_that_product(api: TestClient) -> None:
    found = api.post("/products/search", json={"text": BAGELS_4OZ}, headers=AUTH).json()
    assert [c["unique_id"] for c in found] == [BAGELS_4OZ] and found[0]["title"] == "Rolls: Bagels 4 OZ"


@pytest.mark.parametrize(("body", "field"), [({"text": "x" * 41}, "text"), ({"text": ""}, "text"),
                                             ({"text": "bagels", "k": 21}, "k"), ({"txt": "bagels"}, "txt")])
def test_bad_searches_are_422_naming_the_field(api: TestClient, body: dict, field: str) -> None:
    response = api.post("/products/search", json=body, headers=AUTH)
    assert response.status_code == 422 and field in response.text, response.text


def test_sales_are_the_products_whole_curves(api: TestClient) -> None:
    curves = api.post("/products/sales", json={"unique_ids": [BAGELS_4OZ]}, headers=AUTH).json()
    history = pastry_slice().history(BAGELS_4OZ)
    assert curves[0]["units"] == history.tolist()
    assert curves[0]["dates"][0] == str(history.index[0].date())
    missing = api.post("/products/sales", json={"unique_ids": [BAGELS_4OZ, "404404"]}, headers=AUTH)
    assert missing.status_code == 404 and "404404" in missing.json()["detail"]
    too_many = api.post("/products/sales", json={"unique_ids": [BAGELS_4OZ] * 13}, headers=AUTH)
    assert too_many.status_code == 422


def test_groups_list_the_departments_and_their_categories(api: TestClient) -> None:
    groups = api.get("/products/groups", headers=AUTH).json()["departments"]
    assert list(groups) == ["PASTRY"]
    assert {"BREAD", "ROLLS", "CAKES"} <= set(groups["PASTRY"])


@pytest.mark.parametrize(("method", "path", "body"), [("POST", "/products/search", {"text": "bagels"}),
                                                      ("POST", "/products/sales", {"unique_ids": [BAGELS_4OZ]}),
                                                      ("GET", "/products/groups", None)])
def test_catalog_endpoints_need_the_token(api: TestClient, method: str, path: str, body: dict | None) -> None:
    assert api.request(method, path, json=body).status_code == 401
    assert api.request(method, path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_the_page_and_its_assets_are_served_without_a_token_and_load_nothing_from_outside(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "default-src 'none'" in policy
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert links and all(link.startswith(("/", "#", "data:")) for link in links), links
    for asset in ("/assets/app.js", "/assets/app.css"):
        assert api.get(asset).status_code == 200
    assert "http" not in api.get("/assets/app.js").text.replace("http://www.w3.org/2000/svg", "")
    assert api.get("/assets/index.html").status_code == 404  # the page is served only with its policy


def test_docs_load_their_scripts_from_this_server(api: TestClient) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert links and all(link.startswith("/") for link in links), links
    assert all(api.get(link).status_code == 200 for link in links)
    assert '"validatorUrl": null' in docs.text
    assert api.get("/redoc").status_code == 404
