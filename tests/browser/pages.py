"""What every browser test does on a page: sign in through the form, and collect what the
browser reports as wrong (CSP refusals, console errors, failed requests)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from oficialia.models import User
from tests.conftest import PASSWORD


def collect_errors(page: Page, errors: list[str]) -> None:
    """Append to ``errors`` every console error and every answer of 400 or more."""
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)


def sign_in(page: Page, user: User) -> None:
    """Sign in with the test password through «Entrar»."""
    page.goto("/entrar")
    page.get_by_label("Correo electrónico").fill(user.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("button", name="Salir")).to_be_visible()
