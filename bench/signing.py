"""Signatures per second through the product beside raw pyHanko, in the same run:
``python -m bench.signing``.

A 2-page PDF is signed at PAdES B-B and B-LTA (TSA, OCSP and CRLs of the test PKI served on
loopback, as in the tests) with a visible QR stamp on the last page:

* personal signature — product: ``load_pkcs12`` + ``check_identity`` (revocation checked) +
  ``sign_pdf``; raw: pyHanko's stock ``SimpleSigner.load_pkcs12_data`` + ``PdfSigner`` with the
  same stamp, level and services. Target: product within 1.25x of raw.
* institution seal — product: ``InstitutionSeal`` loaded once, ``.seal()`` per document; raw:
  a stock ``SimpleSigner`` loaded once, ``PdfSigner`` per document. Target: product at least 3x
  faster than raw (the stock signer re-parses and re-validates the RSA key on every signature).

Runs alternate between product and raw so both see the same machine load. Results go to
``bench/results/signing.md``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.stamp import QRStampStyle
from pyhanko_certvalidator import ValidationContext

import firma
from bench.report import write_results
from tests.firma.conftest import make_pdf
from tests.fixtures.pki import PASSWORD, TestPki, build_test_pki

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "signing.md"
PERSONAL_TARGET = 1.25
SEAL_TARGET = 3.0
STAMP_TEXT = "%(label)s\nFirmado por: %(signer_name)s\n%(ids)s\nFecha: %(ts)s\nFolio: %(folio)s"
BOX = (36, 22, 294, 100)


def raw_sign(pdf: bytes, signer: signers.SimpleSigner, pki: TestPki, level: str, name: str) -> bytes:
    """What a developer would write with pyHanko alone for the same signature."""
    long_term = level == "B-LTA"
    meta = signers.PdfSignatureMetadata(
        field_name=name, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=long_term, use_pades_lta=long_term,
        validation_context=ValidationContext(trust_roots=[pki.root], other_certs=[pki.interm], allow_fetching=True)
        if long_term else None,
        signer_key_usage={"digital_signature"},
    )
    timestamper = HTTPTimeStamper(pki.tsa_url, timeout=10) if level != "B-B" else None
    pdf_signer = signers.PdfSigner(
        meta, signer, timestamper=timestamper,
        stamp_style=QRStampStyle(stamp_text=STAMP_TEXT, border_width=1),
        new_field_spec=SigFieldSpec(name, on_page=-1, box=BOX),
    )
    params = {"url": "https://oficialia.example/verificar?folio=OP-2026-000001", "label": "Documento firmado",
              "signer_name": "ANA GARCIA LOPEZ", "ids": "RFC: GALA800101AB1", "folio": "OP-2026-000001"}
    out = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), appearance_text_params=params)
    return out.getvalue()  # type: ignore[no-any-return]


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def measure(n: int, product: Callable[[], object], raw: Callable[[], object]) -> tuple[float, float]:
    """Median seconds per call of each, alternating, after one warm-up call of each."""
    product()
    raw()
    a, b = [], []
    for _ in range(n):
        a.append(timed(product))
        b.append(timed(raw))
    return statistics.median(a), statistics.median(b)


def _serve(pki: TestPki) -> None:
    """The TSA, OCSP and CRLs in a process of their own, like a real TSA (no GIL shared with us)."""
    pki.start()
    assert pki._thread is not None
    pki._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="signatures per measure (B-B); B-LTA uses n/3")
    args = parser.parse_args()
    pdf = make_pdf()
    stamp = firma.VisibleStamp(folio="OP-2026-000001", verify_url="https://oficialia.example/verificar?folio=OP")
    rows: list[tuple[str, str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        pki = build_test_pki(Path(tmp), start=False)
        server = multiprocessing.get_context("fork").Process(target=_serve, args=(pki,), daemon=True)
        server.start()
        try:
            good = pki.pkcs12["good"]
            stock_seal = signers.SimpleSigner.load_pkcs12_data(pki.pkcs12["seal"], [], passphrase=PASSWORD.encode())
            seal = firma.InstitutionSeal.from_pkcs12(pki.pkcs12["seal"], PASSWORD)
            for level, n in (("B-B", args.n), ("B-LTA", max(3, args.n // 3))):
                settings = pki.settings(max_level=level)

                def personal(settings: firma.SigningSettings = settings) -> object:
                    identity = firma.load_pkcs12(good, PASSWORD)
                    firma.check_identity(identity, expected_rfc="GALA800101AB1", trust=settings.trust)
                    return firma.sign_pdf(pdf, identity, settings=settings, stamp=stamp)

                def personal_raw(level: str = level) -> object:
                    signer = signers.SimpleSigner.load_pkcs12_data(good, [], passphrase=PASSWORD.encode())
                    return raw_sign(pdf, signer, pki, level, "Firma1")

                product_s, raw_s = measure(n, personal, personal_raw)
                ok = product_s <= PERSONAL_TARGET * raw_s
                rows.append((f"personal signature {level}", f"{n}", product_s, raw_s,
                             f"product ≤ {PERSONAL_TARGET}x raw: {'met' if ok else 'MISSED'}"))

                if level == "B-B":
                    fresh = pki.settings(max_level=level, trust=pki.trust(revocation_cache_seconds=0))
                    product_s, raw_s = measure(n, lambda fresh=fresh: personal(fresh), personal_raw)
                    rows.append((f"personal signature {level}, OCSP/CRL fetched afresh every time", f"{n}",
                                 product_s, raw_s, "(for reference: raw does no certificate check)"))

                def sealing(settings: firma.SigningSettings = settings) -> object:
                    return seal.seal(pdf, settings=settings, stamp=stamp)

                def sealing_raw(level: str = level) -> object:
                    return raw_sign(pdf, stock_seal, pki, level, "SelloInstitucional1")

                product_s, raw_s = measure(n, sealing, sealing_raw)
                ok = raw_s >= SEAL_TARGET * product_s
                rows.append((f"institution seal {level}", f"{n}", product_s, raw_s,
                             f"raw ≥ {SEAL_TARGET}x product: {'met' if ok else 'MISSED'}"))
        finally:
            server.terminate()
            server.join()

    lines = [
        "# Signing: the product beside raw pyHanko", "",
        "Written by `python -m bench.signing` (`make bench`); rerun it rather than editing this file.", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {sys.version.split()[0]}. "
        "2-page A4 PDF, RSA-2048 keys, visible QR stamp on the last page; B-LTA with the test PKI's TSA, OCSP "
        "and CRLs on loopback (Certomancer, in a forked process of its own). Medians; product and raw alternate.", "",
        "| measure | runs | product (ms) | product (sig/s) | raw pyHanko (ms) | raw (sig/s) | raw / product | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, runs, product_s, raw_s, verdict in rows:
        lines.append(
            f"| {label} | {runs} | {product_s * 1000:.1f} | {1 / product_s:.1f} | {raw_s * 1000:.1f} | "
            f"{1 / raw_s:.1f} | {raw_s / product_s:.2f}x | {verdict} |"
        )
    lines += [
        "",
        "Personal signature, product: PKCS#12 loaded from bytes, `check_identity` (key, e.firma/CSD, key usage, "
        "dates, RFC, chain and revocation over OCSP/CRL) and `sign_pdf`. Raw: stock `SimpleSigner.load_pkcs12_data` "
        "and `PdfSigner` with the same stamp, level and services (no certificate checks). The product reuses "
        "fetched OCSP responses and CRLs for 60 s per thread (`TrustSettings.revocation_cache_seconds`), so the "
        "check before signing and the B-LT validation data share one fetch; the row marked \"fetched afresh\" "
        "turns that off.",
        "Institution seal, product: `InstitutionSeal.from_pkcs12` once (the `cryptography` key object is kept); "
        "raw: a stock `SimpleSigner` loaded once, which re-parses the DER key on every signature.", "",
    ]
    write_results(RESULTS, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
