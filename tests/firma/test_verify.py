"""The verifier on PDFs signed like the product signs them, and on attacks against them.

GIVEN a document certified by an official (PAdES, DocMDP "form filling and signing", visible field,
timestamp) WHEN anything but signatures, validation data or timestamps is done to it THEN it is
never VÁLIDA, and the report says why.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firma.report import ChangeKind, Indication, Verdict, VerificationReport
from firma.verify import load_certificates, verify_pdf
from tests.firma import signed_material as material

SAT = Path(__file__).resolve().parents[1] / "data" / "sat"


@pytest.fixture(scope="module")
def pki() -> material.TestPki:
    return material.make_pki()


@pytest.fixture(scope="module")
def signed(pki: material.TestPki) -> bytes:
    return material.sign(material.make_document(), pki)


def verify(pdf: bytes, pki: material.TestPki, **kwargs: object) -> VerificationReport:
    return verify_pdf(pdf, trust_roots=[pki.root.der], **kwargs)  # type: ignore[arg-type]


def test_a_certified_response_is_valid_and_says_who_when_and_how(signed, pki):
    report = verify(signed, pki)

    assert report.verdict is Verdict.VALID, report.reason
    assert report.verdict_label == "VÁLIDA"
    assert report.indication is Indication.TOTAL_PASSED
    (sig,) = report.signatures
    assert sig.signer.common_name == "Roberto Salas Prueba"
    assert sig.signer.rfc == "SAPR800101AB1"
    assert sig.signer.curp == "SAPR800101HDFLRB09"
    assert sig.signer.organisation == "Ayuntamiento de Prueba"
    assert [c.common_name for c in sig.chain] == [
        "Roberto Salas Prueba", "AC Emisora de Prueba", "Raíz de Prueba del Ayuntamiento"]
    assert sig.signer.serial == format(pki.signer.cert.serial_number, "X")
    assert sig.intact and sig.valid and sig.trusted
    assert sig.coverage == "ENTIRE_FILE"
    assert sig.changes_after_signing is ChangeKind.NONE
    assert sig.level == "B-T"
    assert sig.timestamp_time is not None and sig.timestamp_trusted
    assert sig.claimed_time is not None
    assert "formularios y firmar" in sig.docmdp
    # no OCSP/CRL in a B-T file and no fetching: said, not hidden
    assert sig.revocation == "not_checked"


def test_revocation_can_be_required(signed, pki):
    report = verify(signed, pki, require_revocation=True)
    assert report.verdict is Verdict.CANNOT_VERIFY
    assert report.signatures[0].sub_indication == "TRY_LATER"


def test_a_second_signature_and_a_document_timestamp_keep_it_valid(signed, pki):
    two = material.sign(signed, pki, party=pki.second_signer, field="Firma2", certify=False, box=None)
    stamped = material.document_timestamp(two, pki)

    report = verify(stamped, pki)

    assert report.verdict is Verdict.VALID, report.reason
    first, second, timestamp = report.signatures
    assert first.changes_after_signing is ChangeKind.SIGNATURES
    assert second.signer.rfc == "OIPE790202CD2"
    assert timestamp.kind == "timestamp" and timestamp.trusted
    assert report.changes_after_last == ()


def test_trust_is_reported_apart_from_integrity(signed):
    report = verify_pdf(signed, trust_roots=[])

    assert report.verdict is Verdict.CANNOT_VERIFY
    assert report.verdict_label == "NO SE PUEDE VERIFICAR"
    (sig,) = report.signatures
    assert sig.intact and not sig.trusted
    assert sig.changes_after_signing is ChangeKind.NONE
    assert "autoridad de confianza" in report.reason


def test_a_certificate_expired_since_is_judged_at_its_timestamp(signed, pki):
    """The signer's certificate (700 days) has expired by 2028, the TSA's (10 years) has not: the
    trusted timestamp proves the signature existed while the certificate was valid."""
    later = datetime.now(UTC) + timedelta(days=800)
    report = verify(signed, pki, at=later)
    assert report.verdict is Verdict.VALID, report.reason
    assert "ya venció" in report.signatures[0].reason


def test_a_document_timestamp_proves_a_signature_made_without_one(pki):
    untimed = material.sign(material.make_document(), pki, timestamp=False)
    stamped = material.document_timestamp(untimed, pki)
    report = verify(stamped, pki, at=datetime.now(UTC) + timedelta(days=800))
    assert report.verdict is Verdict.VALID, report.reason
    assert "ya venció" in report.signatures[0].reason


def test_without_a_timestamp_an_expired_certificate_cannot_be_verified(pki):
    untimed = material.sign(material.make_document(), pki, timestamp=False)
    report = verify(untimed, pki, at=datetime.now(UTC) + timedelta(days=800))
    assert report.verdict is Verdict.CANNOT_VERIFY
    assert report.signatures[0].intact
    assert report.signatures[0].sub_indication.startswith("OUT_OF_BOUNDS")


@pytest.mark.parametrize("attack", sorted(material.ATTACKS))
def test_no_attacked_variant_is_valid(signed, pki, attack):
    attacked = material.ATTACKS[attack](signed)
    assert attacked != signed

    report = verify(attacked, pki)

    assert report.verdict is not Verdict.VALID, attack
    assert report.reason
    assert report.indication is not Indication.TOTAL_PASSED


def test_at_least_ten_attacks():
    assert len(material.ATTACKS) >= 10


def test_an_untrusted_signature_laid_over_the_text_is_not_valid(signed, pki):
    attacked = material.untrusted_signature_over_text(signed, pki)
    report = verify(attacked, pki)
    assert report.verdict is not Verdict.VALID
    assert any(not s.trusted for s in report.signatures)


def test_form_filling_after_certification_is_shown_and_fails(signed, pki):
    report = verify(material.form_value_changed(signed), pki)

    assert report.verdict is Verdict.NOT_VALID
    (sig,) = report.signatures
    assert sig.changes_after_signing is ChangeKind.FORM_FILLING
    change = next(c for c in report.changes_after_last if c.kind is ChangeKind.FORM_FILLING)
    assert "Observaciones" in change.description and change.page == 1 and change.object
    assert "Observaciones" in report.reason


def test_an_annotation_is_named_with_its_page(signed, pki):
    report = verify(material.annotation_over_text(signed), pki)
    assert report.verdict is Verdict.NOT_VALID
    assert any(c.kind is ChangeKind.ANNOTATIONS and c.page == 1 for c in report.changes_after_last)


def test_a_new_page_is_named(signed, pki):
    report = verify(material.page_appended(signed), pki)
    assert report.verdict is Verdict.NOT_VALID
    assert any("página" in c.description for c in report.changes_after_last)


def test_an_object_written_again_unchanged_is_not_a_change(signed, pki):
    report = verify(material.rewritten_unchanged(signed), pki)
    assert report.verdict is Verdict.VALID, report.reason
    assert any("sin cambios" in c.description for c in report.signatures[0].changes)


def test_garbage_and_empty_input_cannot_be_verified():
    for data in (b"", b"hello", b"%PDF-1.7\n" + b"\x00" * 100):
        report = verify_pdf(data, trust_roots=[])
        assert report.verdict is Verdict.CANNOT_VERIFY
        assert report.reason


def test_an_unsigned_pdf_is_not_valid():
    report = verify_pdf(material.make_document(), trust_roots=[])
    assert report.verdict is Verdict.NOT_VALID
    assert "ninguna firma" in report.reason


def test_the_report_survives_json(signed, pki):
    report = verify(material.form_value_changed(signed), pki)
    again = VerificationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


def test_certificates_load_from_pem_and_der(pki):
    assert load_certificates(pki.root.pem)[0].sha256 == load_certificates(pki.root.der)[0].sha256
    with pytest.raises(ValueError):
        load_certificates(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_a_sat_efirma_signature_is_valid_against_the_sat_test_cas():
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    signer = signers.SimpleSigner.load(
        key_file=str(SAT / "fake-fiel" / "EKU9003173C9.key"), cert_file=str(SAT / "fake-fiel" / "EKU9003173C9.cer"),
        ca_chain_files=[str(SAT / "sat.certs" / "AC_UAT_2022.crt")], key_passphrase=b"12345678a")
    meta = signers.PdfSignatureMetadata(field_name="Firma", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
    out = signers.PdfSigner(meta, signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(material.make_document())))
    roots = [(SAT / "sat.certs" / "ARC_UAT_2022.crt").read_bytes()]

    report = verify_pdf(out.getvalue(), trust_roots=roots,
                        intermediates=[(SAT / "sat.certs" / "AC_UAT_2022.crt").read_bytes()],
                        at=datetime(2026, 1, 15, tzinfo=UTC))

    assert report.verdict is Verdict.VALID, report.reason
    sig = report.signatures[0]
    assert sig.signer.rfc == "EKU9003173C9"
    assert sig.level == "B-B"
    assert len(sig.chain) == 3
