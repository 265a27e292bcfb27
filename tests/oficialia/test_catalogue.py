"""The public catalogue of procedures and services (/tramites) and its API."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("q", "code"), [
    ("construccion", "DU-LC"),            # no accent typed, the name has one
    ("CONSTRUCCIÓN", "DU-LC"),            # case and accent
    ("planos arquitectonicos", "DU-LC"),  # a requirement
    ("luminarias", "SP-ALUMB"),           # the description
    ("articulo 8o", "SAY-PET"),
])
def test_search_ignores_accents_and_case(client, demo, q, code):
    page = client.get("/tramites", query_string={"q": q})
    assert page.status_code == 200
    assert f"/tramites/{code}" in page.get_data(as_text=True)
    api = client.get("/api/v1/procedures", query_string={"q": q}).json["procedures"]
    assert code in [p["code"] for p in api]


def test_search_without_match_says_so(client, demo):
    page = client.get("/tramites?q=astronauta").get_data(as_text=True)
    assert "No hay trámites que coincidan" in page


def test_procedure_page_has_everything_and_the_button_to_file_it(client, demo):
    page = client.get("/tramites/DU-LC")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("Licencia de construcción", "Desarrollo Urbano", "15 días hábiles", "$1250.00 MXN",
                 "Planos arquitectónicos", "Realizar este trámite en línea"):
        assert text in html, text
    assert 'href="/presentar?tramite=DU-LC"' in html
    form = client.get("/presentar?tramite=DU-LC").get_data(as_text=True)
    assert 'value="DU-LC" selected' in form


def test_free_procedure_and_unknown_code(client, demo):
    assert "Gratuito" in client.get("/tramites/sp-alumb").get_data(as_text=True)
    missing = client.get("/tramites/NO-EXISTE")
    assert missing.status_code == 404


def test_catalogue_api_lists_everything_with_links(client, demo):
    procedures = client.get("/api/v1/procedures").json["procedures"]
    assert len(procedures) == 13
    lc = next(p for p in procedures if p["code"] == "DU-LC")
    assert lc["department_name"] == "Desarrollo Urbano" and lc["cost"] == "1250.00" and lc["response_days"] == 15
    assert lc["url"].endswith("/tramites/DU-LC")
