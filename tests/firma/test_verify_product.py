"""The verifier on PDFs the product's own signing (``firma.sign_pdf``) made against the live test PKI
(TSA, OCSP and CRLs on loopback): levels up to B-LTA verified offline with revocation checked, and
every attack on such a document refused."""

from __future__ import annotations

import pytest

import firma
from firma.report import ChangeKind, Verdict
from firma.verify import verify_pdf
from tests.firma import signed_material as material
from tests.firma.conftest import make_pdf
from tests.fixtures.pki import TestPki

pytestmark = pytest.mark.pki


@pytest.fixture(scope="module")
def lta_two_signers(test_pki: TestPki) -> bytes:
    stamp = firma.VisibleStamp(folio="OP-2026-000123", verify_url="http://oficialia.test/verificar?folio=OP-2026-000123")
    settings = test_pki.settings()
    # a letter with a text field, so that form filling after the certification can be attempted
    first = firma.sign_pdf(material.make_document(), test_pki.identity("good"), settings=settings, stamp=stamp,
                           certify=True, later_signatures=2)
    second = firma.sign_pdf(first.data, test_pki.identity("seal"), settings=settings, stamp=stamp)
    assert second.level == "B-LTA"
    return second.data


def roots(pki: TestPki) -> list[bytes]:
    return [pki.root.dump()]


def test_product_b_lta_is_valid_offline_with_revocation_checked(test_pki, lta_two_signers):
    with test_pki.switched_off():
        report = verify_pdf(lta_two_signers, trust_roots=roots(test_pki), require_revocation=True)

    assert report.verdict is Verdict.VALID, report.reason
    regular = [s for s in report.signatures if s.kind == "signature"]
    assert len(regular) == 2
    assert all(s.level == "B-LTA" for s in regular), [s.level for s in regular]
    assert all(s.revocation == "good" for s in regular)
    assert regular[0].signer.rfc == "GALA800101AB1" and regular[0].signer.curp == "GALA800101MDFRPN09"
    assert regular[0].docmdp and regular[0].changes_after_signing is ChangeKind.SIGNATURES
    assert any(s.kind == "timestamp" for s in report.signatures)
    assert report.changes_after_last == ()


def test_product_b_t_level(test_pki):
    signed = firma.sign_pdf(make_pdf(), test_pki.identity("good"), settings=test_pki.settings(max_level="B-T"))
    report = verify_pdf(signed.data, trust_roots=roots(test_pki))
    assert report.verdict is Verdict.VALID, report.reason
    assert report.signatures[0].level == "B-T"


@pytest.mark.parametrize("attack", sorted(material.ATTACKS))
def test_no_attack_on_a_product_signed_document_is_valid(test_pki, lta_two_signers, attack):
    attacked = material.ATTACKS[attack](lta_two_signers)
    assert attacked != lta_two_signers
    with test_pki.switched_off():
        report = verify_pdf(attacked, trust_roots=roots(test_pki))
    assert report.verdict is not Verdict.VALID, attack
    assert report.reason
