"""PAdES B-T, B-LT and B-LTA against the live test PKI (TSA, OCSP, CRLs on loopback)."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

import firma
from tests.firma.conftest import make_pdf, sat_file
from tests.fixtures.pki import TestPki

pytestmark = pytest.mark.pki


def offline_statuses(data: bytes, pki: TestPki) -> list[PdfSignatureStatus]:
    """Validate with only what the file embeds: no fetching, revocation data mandatory."""
    reader = PdfFileReader(io.BytesIO(data))
    dss = DocumentSecurityStore.read_dss(reader)
    statuses = []
    for sig in reader.embedded_regular_signatures:
        context = dss.as_validation_context(
            {"trust_roots": [pki.root], "allow_fetching": False, "revocation_mode": "hard-fail"}
        )
        statuses.append(validate_pdf_signature(sig, context))
    return statuses


def online_statuses(data: bytes, pki: TestPki) -> list[PdfSignatureStatus]:
    reader = PdfFileReader(io.BytesIO(data))
    return [
        validate_pdf_signature(sig, ValidationContext(trust_roots=[pki.root], other_certs=[pki.interm]))
        for sig in reader.embedded_regular_signatures
    ]


def test_b_t_has_a_trusted_signature_timestamp(test_pki: TestPki) -> None:
    signed = firma.sign_pdf(make_pdf(), test_pki.identity("good"), settings=test_pki.settings(max_level="B-T"))
    assert signed.level == "B-T"
    (status,) = online_statuses(signed.data, test_pki)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted


def test_b_lta_validates_with_the_services_switched_off(test_pki: TestPki, stamp: firma.VisibleStamp) -> None:
    settings = test_pki.settings()
    assert settings.level == "B-LTA"
    first = firma.sign_pdf(
        make_pdf(), test_pki.identity("good"), settings=settings, stamp=stamp, certify=True, later_signatures=2
    )
    second = firma.sign_pdf(first.data, test_pki.identity("good"), settings=settings, stamp=stamp)
    assert second.level == "B-LTA"
    with test_pki.switched_off():
        statuses = offline_statuses(second.data, test_pki)
    assert len(statuses) == 2
    for status in statuses:
        assert status.bottom_line, status.pretty_print_details()
        assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    reader = PdfFileReader(io.BytesIO(second.data))
    dss = DocumentSecurityStore.read_dss(reader)
    assert dss.ocsps and dss.crls  # revocation data is embedded


def test_b_t_cannot_be_validated_offline_in_hard_fail_mode(test_pki: TestPki) -> None:
    """The control for the test above: without embedded revocation data, hard-fail refuses."""
    signed = firma.sign_pdf(make_pdf(), test_pki.identity("good"), settings=test_pki.settings(max_level="B-T"))
    (sig,) = PdfFileReader(io.BytesIO(signed.data)).embedded_regular_signatures
    context = {"trust_roots": [test_pki.root], "other_certs": [test_pki.interm], "allow_fetching": False}
    with test_pki.switched_off(), pytest.raises(ValueError, match="revocation data is not optional"):
        validate_pdf_signature(sig, ValidationContext(**context, revocation_mode="hard-fail"))


def test_the_seal_reaches_b_lta(test_pki: TestPki) -> None:
    seal = firma.InstitutionSeal.from_pkcs12(test_pki.pkcs12["seal"], "clave-pki-123")
    sealed = seal.seal(make_pdf(), settings=test_pki.settings())
    assert sealed.level == "B-LTA"
    (status,) = online_statuses(sealed.data, test_pki)
    assert status.bottom_line, status.pretty_print_details()


def test_revoked_certificate_is_refused(test_pki: TestPki) -> None:
    identity = test_pki.identity("revoked")
    with pytest.raises(firma.CertificateRevoked) as info:
        firma.check_identity(identity, expected_rfc="DIRB790202CD2", trust=test_pki.trust())
    assert info.value.message == "El certificado de la firma electrónica está revocado."


def test_expired_certificate_is_refused(test_pki: TestPki) -> None:
    with pytest.raises(firma.CertificateExpired, match="venció el 01/01/2022"):
        firma.check_identity(test_pki.identity("expired"), expected_rfc=None, trust=test_pki.trust())


def test_good_certificate_passes_with_revocation_checked(test_pki: TestPki) -> None:
    firma.check_identity(
        test_pki.identity("good"), expected_rfc="GALA800101AB1",
        trust=test_pki.trust(revocation_mode="require", require_trusted=True),
    )


def test_untrusted_certificate_is_refused_when_trust_is_required(
    test_pki: TestPki, sat_efirma: firma.SigningIdentity
) -> None:
    with pytest.raises(firma.CertificateUntrusted, match="autoridad certificadora de confianza"):
        firma.check_identity(sat_efirma, expected_rfc=None, trust=test_pki.trust(require_trusted=True))


def test_revocation_unknown_when_required_and_services_are_off(test_pki: TestPki) -> None:
    with test_pki.switched_off(), pytest.raises(firma.RevocationUnknown):
        firma.check_identity(
            test_pki.identity("good"), expected_rfc=None,
            trust=test_pki.trust(revocation_mode="require", timeout=2, revocation_cache_seconds=0),
        )


def test_tsa_down_is_a_clear_error(test_pki: TestPki) -> None:
    settings = test_pki.settings(max_level="B-T", timeout=2)
    with test_pki.switched_off(), pytest.raises(firma.TimestampFailed) as info:
        firma.sign_pdf(make_pdf(), test_pki.identity("good"), settings=settings)
    assert info.value.http_status == 503
    assert "sellado de tiempo" in info.value.message


def test_a_signer_from_an_unlisted_ca_gets_b_t(test_pki: TestPki, sat_efirma: firma.SigningIdentity) -> None:
    """Validation data can only be gathered for certificates that chain to a trust anchor."""
    signed = firma.sign_pdf(make_pdf(), sat_efirma, settings=test_pki.settings())
    assert signed.level == "B-T"
    sat_root = firma.load_certificates(sat_file("sat.certs/ARC_UAT_2022.crt"))
    sat_ca = firma.load_certificates(sat_file("sat.certs/AC_UAT_2022.crt"))
    trust = test_pki.trust(roots=(test_pki.root, *sat_root), intermediates=(test_pki.interm, *sat_ca))
    signed = firma.sign_pdf(make_pdf(), sat_efirma, settings=test_pki.settings(trust=trust))
    assert signed.level == "B-LTA"
    reader = PdfFileReader(io.BytesIO(signed.data))
    (sig,) = reader.embedded_regular_signatures
    context = ValidationContext(trust_roots=[*sat_root, test_pki.root], other_certs=sat_ca)  # root: the TSA
    status = validate_pdf_signature(sig, context)
    assert status.bottom_line and status.timestamp_validity is not None
