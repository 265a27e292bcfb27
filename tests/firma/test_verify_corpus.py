"""The verifier against the shared corpus (esig/dss and pyHanko test files, read in place) and the
isolation that bounds every verification in time and memory.

Negative files (see their MANIFEST.md) are never VÁLIDA and the report says why; positive controls
are intact with no disallowed change, and trust is reported apart (their signers chain to no anchor
we configure, except pyHanko's test root at the time its certificates were valid).
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firma.isolation import IsolatedVerifier
from firma.report import ChangeKind, Verdict
from firma.verify import verify_pdf
from tests.conftest import IN_CI, SHARED

pytestmark = pytest.mark.corpus

DSS = SHARED / "esig-dss"
PYHANKO = SHARED / "pyhanko"
PYHANKO_ROOT = PYHANKO / "testing-ca" / "root.cert.pem"

NEGATIVE = [
    "esig-dss/pdf-signed-corrupted.pdf",
    "esig-dss/pdf-signed-out-of-byteRange.pdf",
    "esig-dss/pdf-byterange-overlap.pdf",
    "esig-dss/siwa.pdf",
    "esig-dss/pdf-spoofing-attack.pdf",
    "esig-dss/pades-spoofing-replaced-reason.pdf",
    "esig-dss/pdf-signed-added-page.pdf",
    "esig-dss/pdf-removed-pages.pdf",
    "esig-dss/pades-signed-annot-added.pdf",
    "esig-dss/hello_signed_INCSAVE_signed_EDITED.pdf",
    "esig-dss/pades_infinite_loop.pdf",
    "esig-dss/dss-2236/hide.pdf",
    "esig-dss/dss-2236/replace.pdf",
    "pyhanko/coverage-anomalies/tail-uncovered.pdf",
    "pyhanko/coverage-anomalies/signature-gap-too-big.pdf",
    "pyhanko/coverage-anomalies/one-byterange.pdf",
    "pyhanko/coverage-anomalies/weird-byterange.pdf",
    "pyhanko/form-update-override-appearance-stream-sneaky.pdf",
    "pyhanko/form-update-no-override-appearance-stream-ap-indirect-sneaky.pdf",
    "pyhanko/form-update-ap-indirect-sneaky-trailer.pdf",
    "pyhanko/pdf-sig-with-econtent.pdf",
    "pyhanko/malformed/minimal-startxref-hopeless.pdf",
    "pyhanko/malformed/circular-page-tree.pdf",
    "pyhanko/malformed/broken-objstream1.pdf",
    "pyhanko/malformed/malformed-encrypt-dict1.pdf",
]

POSITIVE = [
    "esig-dss/pdf-signed-original.pdf",
    "esig-dss/dss-2554/certified-no-change-permitted.pdf",
    "esig-dss/dss-2554/certified-changes-permitted.pdf",
    "pyhanko/form-update-override-appearance-stream.pdf",
    "pyhanko/minimal-two-fields-signed-twice.pdf",
    "pyhanko/sig-no-signed-attrs.pdf",
]

#: when pyHanko's test certificates were valid
PYHANKO_TIME = datetime(2021, 1, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _corpus_present():
    if not SHARED.is_dir():
        assert not IN_CI, "../shared/external-data must be present under CI"
        pytest.skip("../shared/external-data is absent")


def roots() -> list[bytes]:
    return [PYHANKO_ROOT.read_bytes()]


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_files_are_never_valid_and_say_why(name):
    report = verify_pdf((SHARED / name).read_bytes(), trust_roots=roots())
    assert report.verdict is not Verdict.VALID
    assert report.reason.strip()


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_files_are_not_valid_even_when_their_signers_are_trusted(name):
    # at a time their certificates were valid, with pyHanko's test root trusted
    report = verify_pdf((SHARED / name).read_bytes(), trust_roots=roots(), at=PYHANKO_TIME)
    assert report.verdict is not Verdict.VALID


def test_replace_attack_is_shown_as_form_filling_and_fails():
    report = verify_pdf((DSS / "dss-2236" / "replace.pdf").read_bytes(), trust_roots=[])
    assert report.verdict is Verdict.NOT_VALID
    changes = report.changes_after_last
    assert any(c.kind is ChangeKind.FORM_FILLING and "Text1" in c.description for c in changes)
    assert report.signatures[0].changes_after_signing is not ChangeKind.NONE


def test_sneaky_form_updates_are_other_changes():
    for name in ("form-update-override-appearance-stream-sneaky.pdf",
                 "form-update-no-override-appearance-stream-ap-indirect-sneaky.pdf",
                 "form-update-ap-indirect-sneaky-trailer.pdf"):
        report = verify_pdf((PYHANKO / name).read_bytes(), trust_roots=roots(), at=PYHANKO_TIME)
        assert report.verdict is Verdict.NOT_VALID, name
        first = next(s for s in report.signatures if s.field_name == "Sig1")
        assert first.changes_after_signing is ChangeKind.OTHER
        assert first.trusted


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_controls_are_intact_with_no_disallowed_change(name):
    report = verify_pdf((SHARED / name).read_bytes(), trust_roots=[])
    assert report.signatures
    for sig in report.signatures:
        assert sig.intact, (name, sig.reason)
        assert sig.changes_after_signing in (ChangeKind.NONE, ChangeKind.SIGNATURES), (name, sig.changes)
        assert not sig.trusted  # no anchor configured: said apart from integrity
    assert report.changes_after_last == ()
    assert report.verdict is Verdict.CANNOT_VERIFY


def test_pyhanko_control_is_valid_when_its_root_is_trusted_at_its_time():
    report = verify_pdf((PYHANKO / "form-update-override-appearance-stream.pdf").read_bytes(), trust_roots=roots(),
                        at=PYHANKO_TIME)
    assert report.verdict is Verdict.VALID, report.reason
    assert all(s.trusted for s in report.signatures)


def every_corpus_pdf() -> list[Path]:
    return sorted(p for p in SHARED.rglob("*.pdf")) if SHARED.is_dir() else []


@pytest.fixture(scope="module")
def isolated():
    verifier = IsolatedVerifier(timeout=5, memory_mb=1024, workers=1)
    yield verifier
    verifier.close()


def test_every_pdf_of_the_corpus_gets_an_answer_and_none_is_valid(isolated):
    files = every_corpus_pdf()
    assert len(files) > 50
    for path in files:
        report = isolated.verify(path.read_bytes(), trust_roots=roots())
        assert report.verdict is not Verdict.VALID, path
        assert report.reason, path


def test_infinite_loop_file_is_answered_and_cannot_be_verified(isolated):
    report = isolated.verify((DSS / "pades_infinite_loop.pdf").read_bytes(), trust_roots=[])
    assert report.verdict is Verdict.CANNOT_VERIFY
    assert report.reason


def test_a_hanging_verification_is_stopped_by_the_time_limit():
    """A worker that stops answering (here: frozen with SIGSTOP, as a verifier stuck in a loop
    would be) is killed at the deadline; the answer is NO SE PUEDE VERIFICAR, and the next file
    gets a fresh worker."""
    verifier = IsolatedVerifier(timeout=2, memory_mb=1024, workers=1)
    try:
        pdf = (DSS / "pades_infinite_loop.pdf").read_bytes()
        verifier.verify(pdf, trust_roots=[])
        (pid,) = verifier.worker_pids
        os.kill(pid, signal.SIGSTOP)

        report = verifier.verify(pdf, trust_roots=[])

        assert report.verdict is Verdict.CANNOT_VERIFY
        assert "tiempo límite" in report.reason
        assert verifier.worker_pids == []
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        again = verifier.verify(pdf, trust_roots=[])
        assert again.verdict is Verdict.CANNOT_VERIFY and "tiempo" not in again.reason
    finally:
        verifier.close()


def test_the_memory_limit_stops_a_verification_that_needs_too_much():
    verifier = IsolatedVerifier(timeout=30, memory_mb=64, workers=1)
    try:
        report = verifier.verify(b"%PDF-1.7\n" + os.urandom(16 * 1024 * 1024), trust_roots=[])
        assert report.verdict is Verdict.CANNOT_VERIFY
        assert "memoria" in report.reason
    finally:
        verifier.close()
