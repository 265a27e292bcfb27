"""PAdES signatures with the SAT test e.firma: B-B, visible stamp, several signers, certification."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

import firma
from tests.firma.conftest import make_pdf


def validate(data: bytes, trust: firma.TrustSettings) -> list:  # type: ignore[type-arg]
    reader = PdfFileReader(io.BytesIO(data))
    return [
        validate_pdf_signature(
            sig, ValidationContext(trust_roots=list(trust.roots), other_certs=list(trust.intermediates))
        )
        for sig in reader.embedded_signatures
    ]


def test_sat_efirma_signs_b_b_and_validates_as_trusted(
    pdf: bytes, sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings, stamp: firma.VisibleStamp
) -> None:
    settings = firma.SigningSettings(trust=sat_trust)
    signed = firma.sign_pdf(pdf, sat_efirma, settings=settings, stamp=stamp, reason="Respuesta")
    assert signed.level == "B-B" and signed.signer_name == "ESCUELA KEMPER URGATE SA DE CV"
    assert signed.data.startswith(pdf)  # an incremental update
    (status,) = validate(signed.data, sat_trust)
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted


def test_visible_stamp_is_on_the_last_page_with_name_rfc_folio(
    pdf: bytes, sat_efirma: firma.SigningIdentity, stamp: firma.VisibleStamp
) -> None:
    signed = firma.sign_pdf(pdf, sat_efirma, settings=firma.SigningSettings(), stamp=stamp)
    reader = PdfFileReader(io.BytesIO(signed.data))
    (field,) = [s.sig_field for s in reader.embedded_signatures]
    assert field.raw_get("/P") == reader.root["/Pages"]["/Kids"].raw_get(-1)
    appearance = field["/AP"]["/N"].data
    assert b"/QR Do" in appearance
    # (pyHanko escapes ":" and "-" in octal inside the content stream)
    for expected in (b"ESCUELA KEMPER URGATE SA DE CV", b"EKU9003173C9", b"VADA800927HSRSRL05", b"000042", b"Fecha"):
        assert expected in appearance


def test_two_signers_in_sequence_stay_valid_and_the_first_certifies(
    sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings, stamp: firma.VisibleStamp
) -> None:
    settings = firma.SigningSettings(trust=sat_trust)
    first = firma.sign_pdf(make_pdf(), sat_efirma, settings=settings, stamp=stamp, certify=True, later_signatures=2)
    second = firma.sign_pdf(first.data, sat_efirma, settings=settings, stamp=stamp)
    statuses = validate(second.data, sat_trust)
    assert len(statuses) == 2
    assert all(s.bottom_line for s in statuses), [s.pretty_print_details() for s in statuses]
    assert statuses[0].docmdp_ok and statuses[0].modification_level == ModificationLevel.FORM_FILLING
    reader = PdfFileReader(io.BytesIO(second.data))
    assert reader.embedded_signatures[0].docmdp_level is not None  # certification signature


def test_a_later_signer_without_a_reserved_field_signs_invisibly(
    sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings, stamp: firma.VisibleStamp
) -> None:
    settings = firma.SigningSettings(trust=sat_trust)
    first = firma.sign_pdf(make_pdf(), sat_efirma, settings=settings, stamp=stamp, certify=True)
    second = firma.sign_pdf(first.data, sat_efirma, settings=settings, stamp=stamp)
    assert all(s.bottom_line for s in validate(second.data, sat_trust))


@pytest.mark.parametrize("where", ["first", "second"])
def test_any_change_to_the_signed_bytes_breaks_the_signatures(
    sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings, where: str
) -> None:
    settings = firma.SigningSettings(trust=sat_trust)
    first = firma.sign_pdf(make_pdf(), sat_efirma, settings=settings, certify=True)
    second = firma.sign_pdf(first.data, sat_efirma, settings=settings)
    data = bytearray(second.data)
    # One byte of the original document (covered by both signatures), or of the second
    # signature's own dictionary (its signing time, covered by the second only).
    if where == "first":
        offset = data.index(b"ReportLab") + 6
    else:
        match = re.compile(rb"/M \(D\\072").search(bytes(data), len(first.data))
        assert match is not None
        offset = match.end() + 2
    data[offset] = ord("7") if data[offset] != ord("7") else ord("8")
    statuses = validate(bytes(data), sat_trust)
    if where == "first":
        assert not any(s.intact for s in statuses)
    else:
        assert statuses[0].intact and not statuses[1].intact


def test_not_a_pdf_is_refused(sat_efirma: firma.SigningIdentity) -> None:
    with pytest.raises(firma.SigningFailed, match="no es un PDF válido"):
        firma.sign_pdf(b"hello", sat_efirma, settings=firma.SigningSettings())


def test_levels_follow_the_configuration(sat_trust: firma.TrustSettings) -> None:
    assert firma.SigningSettings().level == "B-B"
    assert firma.SigningSettings(tsa_url="http://tsa").level == "B-T"
    assert firma.SigningSettings(tsa_url="http://tsa", trust=sat_trust, archive_timestamp=False).level == "B-LT"
    assert firma.SigningSettings(tsa_url="http://tsa", trust=sat_trust).level == "B-LTA"
    assert firma.SigningSettings(tsa_url="http://tsa", trust=sat_trust, max_level="B-T").level == "B-T"


def test_institution_seal_from_pkcs12(
    pdf: bytes, sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings
) -> None:
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert = cx509.load_der_x509_certificate(sat_efirma.certificate.dump())
    data = pkcs12.serialize_key_and_certificates(
        b"sello", sat_efirma.private_key, cert, None,  # type: ignore[arg-type]
        serialization.BestAvailableEncryption(b"sello-123"),
    )
    seal = firma.InstitutionSeal.from_pkcs12(data, "sello-123")
    assert "sello-123" not in repr(seal)
    settings = firma.SigningSettings(trust=sat_trust)
    once = seal.seal(pdf, settings=settings)
    twice = seal.seal(once.data, settings=settings)
    assert all(s.bottom_line for s in validate(twice.data, sat_trust))


def test_one_seal_serves_several_threads(sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert = cx509.load_der_x509_certificate(sat_efirma.certificate.dump())
    data = pkcs12.serialize_key_and_certificates(
        b"sello", sat_efirma.private_key, cert, None,  # type: ignore[arg-type]
        serialization.BestAvailableEncryption(b"sello-123"),
    )
    seal = firma.InstitutionSeal.from_pkcs12(data, "sello-123")
    settings = firma.SigningSettings(trust=sat_trust)
    documents = [make_pdf(text=f"Documento {n}") for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        sealed = list(pool.map(lambda pdf: seal.seal(pdf, settings=settings), documents))
    for result in sealed:
        (status,) = validate(result.data, sat_trust)
        assert status.bottom_line


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[1] / "data" / "hostile" / "qpdf").glob("*.pdf")),
    ids=lambda p: p.name,
)
def test_damaged_pdfs_are_refused_with_a_clear_message(
    path: Path, sat_efirma: firma.SigningIdentity, stamp: firma.VisibleStamp
) -> None:
    try:
        firma.sign_pdf(path.read_bytes(), sat_efirma, settings=firma.SigningSettings(), stamp=stamp)
    except firma.SigningFailed as e:
        assert e.message and e.http_status == 422
