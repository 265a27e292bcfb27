"""Every hostile file of the test corpus, sent through the real API: refused with a clear 4xx or
accepted safely — never a 500, never a hang."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from oficialia.models import Role
from tests.conftest import IN_CI, SHARED

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"
COPIED = sorted(p for p in HOSTILE.rglob("*") if p.is_file() and p.suffix != ".md")
IN_PLACE = sorted(p for folder in ("corkami-pocs", "rub-nds-pdf101", "ocrmypdf")
                  for p in (SHARED / folder).glob("*") if p.suffix in (".pdf", ".png"))


@pytest.fixture
def token(demo, make_user, make_token):
    return make_token(make_user(Role.CLERK, department="OP"))


def _send(client, token, path: Path):
    started = time.monotonic()
    response = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data",
                           data={"subject": f"Prueba {path.name}", "filer_name": "Prueba", "filer_kind": "fisica",
                                 "files": [(io.BytesIO(path.read_bytes()), path.name)]})
    assert time.monotonic() - started < 30
    assert response.status_code in (201, 413, 415, 422), (path.name, response.status_code, response.json)
    if response.status_code != 201:
        assert response.json["error"]["message"]
    return response


@pytest.mark.parametrize("path", COPIED, ids=lambda p: p.name)
def test_hostile_file_through_the_api(client, token, path):
    _send(client, token, path)


@pytest.mark.corpus
@pytest.mark.parametrize("path", IN_PLACE, ids=lambda p: p.name)
def test_corpus_file_through_the_api(client, token, path):
    if not SHARED.is_dir() and not IN_CI:
        pytest.skip("../shared/external-data is absent")
    _send(client, token, path)


def test_the_corpus_is_there(request):
    assert COPIED, "tests/data/hostile is empty"
    if IN_CI:
        assert IN_PLACE, "../shared/external-data must be present under CI"
