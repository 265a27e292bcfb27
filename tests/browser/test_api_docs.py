"""The API documentation page renders the OpenAPI document in a real browser, under the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_docs_page_renders_every_operation_without_csp_violations(page: Page, tmp_path):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto("/api/v1/docs")
    expect(page.get_by_text("Presentar un escrito").first).to_be_visible()
    expect(page.get_by_text("Catálogo de trámites y servicios").first).to_be_visible()
    assert page.locator(".opblock").count() >= 16
    page.get_by_text("Presentar un escrito").first.click()  # expand: parameters, body, responses
    expect(page.get_by_text("Idempotency-Key").first).to_be_visible()
    page.get_by_text("Listar escritos").first.click()
    expect(page.get_by_text("limit").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "docs.png"))
    assert problems == []  # no CSP refusal, no missing file, no script error
