"""Fixtures for the pure signing tests: SAT test credentials, trust and a small PDF."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

import firma

SAT = Path(__file__).resolve().parents[1] / "data" / "sat"
SAT_PASSWORD = "12345678a"


def sat_file(name: str) -> bytes:
    return (SAT / name).read_bytes()


def make_pdf(pages: int = 2, text: str = "Oficio de respuesta") -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for page in range(pages):
        c.drawString(72, 760, f"{text} - página {page + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture
def pdf() -> bytes:
    return make_pdf()


@pytest.fixture
def sat_efirma() -> firma.SigningIdentity:
    """SAT's test e.firma EKU9003173C9 (valid until 2027-05-17)."""
    return firma.load_sat_pair(
        sat_file("fake-fiel/EKU9003173C9.cer"), sat_file("fake-fiel/EKU9003173C9.key"), SAT_PASSWORD
    )


@pytest.fixture
def sat_trust() -> firma.TrustSettings:
    """SAT's test root (Banxico "Raiz Beta") with the AC UAT intermediate; no network."""
    return firma.TrustSettings(
        roots=tuple(firma.load_certificates(sat_file("sat.certs/ARC_UAT_2022.crt"))),
        intermediates=tuple(firma.load_certificates(sat_file("sat.certs/AC_UAT_2022.crt"))),
        allow_fetching=False,
    )


@pytest.fixture
def stamp() -> firma.VisibleStamp:
    return firma.VisibleStamp(folio="OP-2026-000042", verify_url="https://oficialia.example/verificar/OP-2026-000042")


@pytest.fixture
def load_sat() -> Callable[[str, str], firma.SigningIdentity]:
    def load(cer: str, key: str) -> firma.SigningIdentity:
        return firma.load_sat_pair(sat_file(cer), sat_file(key), SAT_PASSWORD)

    return load
