"""Signature verification throughput: through the product beside raw pyHanko, in the same run.
``python -m bench.verify``.

The files: documents signed the way the product signs them (certified PAdES B-T; two signers and
a document timestamp; the same with a form value changed after signing) plus, when the shared
corpus is there, esig/dss's plain signed PDF. Each round verifies every file once.

- **product**: ``POST /api/v1/verify`` through Flask's test client: trust store read from the
  database, the isolated worker (time and memory limits), pyHanko's validation, the product's
  strict review of later updates and second parser, the issued-document lookup, the JSON report;
- **raw pyHanko**: in one process, ``PdfFileReader`` and ``validate_pdf_signature`` (or
  ``validate_pdf_timestamp``) of every embedded signature with a fresh ``ValidationContext``
  holding the same root.

Both run one file at a time. Results go to ``bench/results/verify.md``.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import write_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "verify.md"
SHARED = ROOT.parent / "shared" / "external-data"
TARGET_RATIO = 1.25


def corpus_files() -> dict[str, bytes]:
    from tests.firma import signed_material as material

    pki = material.make_pki()
    certified = material.sign(material.make_document(), pki)
    two = material.sign(certified, pki, party=pki.second_signer, field="Firma2", certify=False, box=None)
    stamped = material.document_timestamp(two, pki)
    files = {"certified B-T": certified, "two signers + document timestamp": stamped,
             "form value changed after signing": material.form_value_changed(certified)}
    original = SHARED / "esig-dss" / "pdf-signed-original.pdf"
    if original.is_file():
        files["esig/dss pdf-signed-original"] = original.read_bytes()
    return files, pki  # type: ignore[return-value]


def raw_pyhanko(pdf: bytes, root: object) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    for emb in reader.embedded_signatures:
        vc = ValidationContext(trust_roots=[root])
        if emb.sig_object_type == "/DocTimeStamp":
            validate_pdf_timestamp(emb, validation_context=vc)
        else:
            validate_pdf_signature(emb, signer_validation_context=vc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    from flask_migrate import upgrade

    from app import create_app
    from oficialia.db import db
    from oficialia.trust import add_trust_anchor

    files, pki = corpus_files()
    root = pki.root.asn1

    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "STORAGE_URL": str(Path(tmp) / "storage"),
                          "SECRET_KEY": "bench", "INSTANCE_PATH": str(Path(tmp) / "instance"),
                          "RATELIMIT_ENABLED": False, "VERIFY_WORKERS": 1})
        with app.app_context():
            upgrade()
            add_trust_anchor(db.session, pki.root.pem + pki.issuing.pem, actor=None, note="bench")
            db.session.commit()
        client = app.test_client()

        def product(pdf: bytes) -> None:
            response = client.post("/api/v1/verify", data={"file": (io.BytesIO(pdf), "d.pdf")},
                                   content_type="multipart/form-data")
            assert response.status_code == 200, response.status_code

        verdicts = {}
        for name, pdf in files.items():  # warm-up: worker start, imports, caches
            product(pdf)
            raw_pyhanko(pdf, root)
            verdicts[name] = client.post("/api/v1/verify", data={"file": (io.BytesIO(pdf), "d.pdf")},
                                         content_type="multipart/form-data").get_json()["verdict"]
        product_times: dict[str, list[float]] = {name: [] for name in files}
        raw_times: dict[str, list[float]] = {name: [] for name in files}
        worker_times: dict[str, list[float]] = {name: [] for name in files}
        verifier = app.extensions["verifier"]
        anchors = [pki.root.der]
        helpers = [pki.issuing.der]
        for _ in range(args.rounds):
            for name, pdf in files.items():
                t0 = time.perf_counter()
                product(pdf)
                t1 = time.perf_counter()
                raw_pyhanko(pdf, root)
                t2 = time.perf_counter()
                verifier.verify(pdf, trust_roots=anchors, intermediates=helpers)
                t3 = time.perf_counter()
                product_times[name].append(t1 - t0)
                raw_times[name].append(t2 - t1)
                worker_times[name].append(t3 - t2)
        app.extensions["verifier"].close()

    # medians per file: the machine is shared, and a median resists another job's bursts
    product_round = sum(statistics.median(v) for v in product_times.values())
    raw_round = sum(statistics.median(v) for v in raw_times.values())
    worker_round = sum(statistics.median(v) for v in worker_times.values())
    worker_rate = len(files) / worker_round
    product_rate = len(files) / product_round
    raw_rate = len(files) / raw_round
    ratio = raw_rate / product_rate
    load = os.getloadavg()[0]
    lines = [
        "# Signature verification", "",
        "Written by `python -m bench.verify` (`make bench`); rerun it rather than editing this file.", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"{args.rounds} rounds over {len(files)} files, one file at a time, interleaved; rates from the median "
        f"time of each file; load average {load:.1f} at the end.", "",
        "| file | verdict through the product | product ms (median) | raw pyHanko ms (median) |", "|---|---|---|---|",
        *[f"| {name} | {verdicts[name]} | {1000 * statistics.median(product_times[name]):.1f} | "
          f"{1000 * statistics.median(raw_times[name]):.1f} |" for name in files], "",
        "| path | verifications/s | ms each |", "|---|---|---|",
        f"| product: `POST /api/v1/verify` (isolated worker, strict update review, JSON) | {product_rate:.1f} | "
        f"{1000 / product_rate:.1f} |",
        f"| the product's verifier alone (isolated worker, no HTTP, no database) | {worker_rate:.1f} | "
        f"{1000 / worker_rate:.1f} |",
        f"| raw pyHanko `validate_pdf_signature`, same files, same process | {raw_rate:.1f} | {1000 / raw_rate:.1f} |",
        "",
        f"Product / raw time: **{ratio:.2f}x** (target within {TARGET_RATIO}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}); the verifier alone: {raw_rate / worker_rate:.2f}x.", ""]
    write_results(RESULTS, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
