"""What the API platform adds to a request: ``python -m bench.api_platform``.

On a scratch PostgreSQL database (the server ``OFICIALIA_TEST_DATABASE`` names) and the local
filesystem store, through the Flask test client, one request at a time:

1. ``POST /api/v1/filings`` (1-page PDF) without ``Idempotency-Key``, with a fresh key each time,
   and the replay of an already used key (answered from the stored result, no intake);
2. ``GET /api/v1/filings/<folio>`` (token, scope and schema checks included) beside
   ``GET /api/v1/departments`` (no token);
3. building the OpenAPI document (done once per process, then cached).

Rate limits are on (in-memory storage, generous limits), as in production. No timing is asserted;
results go to ``bench/results/api_platform.md``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api_platform.md"


class _NoJobs:
    """No background work during the bench: OCR and webhooks are not part of a request."""

    def enqueue_ocr(self, document_id: int) -> bool:
        return True

    def is_live(self, document_id: int) -> bool:
        return False

    def enqueue(self, func: Callable[..., object], *args: object, job_id: str) -> bool:
        return True


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"{statistics.median(samples) * 1000:.1f} ms (p95 {p95 * 1000:.1f} ms)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from bench.scratch import scratch_database
    from oficialia import tokens
    from oficialia.db import db
    from oficialia.demo import seed_demo
    from oficialia.models import User
    from oficialia.openapi import build_document
    from tests.factories import pdf_bytes

    pdf = pdf_bytes(1, "Escrito del banco de pruebas")
    n = args.requests
    with scratch_database("oficialia_bench_api") as url, tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        app = create_app({"DATABASE_URL": url, "STORAGE_URL": str(Path(tmp) / "storage"), "SECRET_KEY": "bench",
                          "INSTANCE_PATH": str(Path(tmp) / "instance"), "RATELIMIT_API_TOKEN": "100000 per minute",
                          "RATELIMIT_API_ADDRESS": "100000 per minute"})
        app.extensions["dispatcher"] = _NoJobs()
        with app.app_context():
            upgrade()
            seed_demo(db.session)
            clerk = db.session.execute(db.select(User).where(User.email == "oficialia@demo.gob.mx")).scalar_one()
            _row, token = tokens.issue_token(db.session, clerk, name="bench", channel="chatbot")
            db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def post(key: str | None) -> tuple[float, str]:
            data = {"subject": "Bache", "body": "Bache en la esquina.", "filer_name": "Ana",
                    "filer_email": "ana@example.mx", "procedure": "OBRAS-BACHEO",
                    "files": [(io.BytesIO(pdf), "escrito.pdf")]}
            extra = {"Idempotency-Key": key} if key else {}
            started = time.perf_counter()
            response = client.post("/api/v1/filings", data=data, headers=headers | extra,
                                   content_type="multipart/form-data")
            elapsed = time.perf_counter() - started
            if response.status_code != 201:
                raise SystemExit(f"unexpected {response.status_code}: {response.get_data(as_text=True)}")
            return elapsed, response.json["folio"]

        post(None)  # warm-up
        plain = [post(None)[0] for _ in range(n)]
        keyed = [post(f"bench-{i}")[0] for i in range(n)]
        replayed_results = [post("bench-0") for _ in range(n)]
        replayed = [t for t, _ in replayed_results]
        folio = replayed_results[0][1]

        def get(path: str, with_token: bool) -> float:
            started = time.perf_counter()
            response = client.get(path, headers=headers if with_token else {})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"unexpected {response.status_code} on {path}")
            return elapsed

        record = [get(f"/api/v1/filings/{folio}", True) for _ in range(n)]
        departments = [get("/api/v1/departments", False) for _ in range(n)]
        with app.test_request_context():
            started = time.perf_counter()
            document = build_document(app)
            build = time.perf_counter() - started
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    lines = [
        "# API platform: cost per request",
        "",
        f"`python -m bench.api_platform --requests {n}`: PostgreSQL, filesystem store, Flask test client, one "
        "request at a time, rate limits on (in-memory). Medians (95th percentile). Measured on the shared 2-core "
        "machine while other test runs were going on: read the ratios, not the absolute numbers.",
        "",
        "| request | time |",
        "| --- | --- |",
        f"| `POST /api/v1/filings`, 1-page PDF, no `Idempotency-Key` | {_ms(plain)} |",
        f"| same, with a fresh `Idempotency-Key` each time | {_ms(keyed)} |",
        f"| same key again (replay of the stored result, no intake) | {_ms(replayed)} |",
        f"| `GET /api/v1/filings/<folio>` (token, scope, schema) | {_ms(record)} |",
        f"| `GET /api/v1/departments` (no token) | {_ms(departments)} |",
        f"| building the OpenAPI document ({len(document['paths'])} paths; once per process) | "
        f"{build * 1000:.1f} ms |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
