"""OCR throughput through the product beside raw OCRmyPDF, in the same run: ``python -m bench.ocr``.

Product: noisy 300 dpi one-page scans are filed through the intake service on PostgreSQL with
the RQ dispatcher while 1 and then 2 long-lived ``flask --app app worker`` processes OCR them
(stamp, storage, page texts and search index included). Raw: the same files through
``ocrmypdf.ocr`` with the same options, 1 and 2 processes at a time. Reports pages per minute,
the product/raw ratio per page (target <= 1.10), the 2-worker speed-up (target >= 1.7) and the
stored bytes per page of the derived copy. Results go to ``bench/results/ocr.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import img2pdf
import sqlalchemy as sa
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from redis import Redis

from bench.report import write_results
from bench.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ocr.md"
REDIS_URL = os.environ.get("OFICIALIA_BENCH_REDIS", "redis://127.0.0.1:6379/12")
TARGET_RATIO = 1.10
TARGET_SCALING = 1.7
WORDS = ("solicitud reparación alumbrado público calle colonia vecinos municipio atentamente presente "
         "licencia construcción predio documento anexo ayuntamiento dirección obras servicios agua "
         "drenaje pavimento banqueta árbol poda recolección basura seguridad tránsito señalamiento").split()

RAW_SNIPPET = """
import sys, ocrmypdf
from oficialia.ocr_runner import pdfa_backend
ocrmypdf.ocr(sys.argv[1], sys.argv[2], language=["spa", "eng"], deskew=True, rotate_pages=True,
             rotate_pages_threshold=8.0, skip_text=True, output_type="auto", pdfa_backend=pdfa_backend(),
             optimize=1, jobs=1, progress_bar=False)
"""


def noisy_scan(seed: int) -> bytes:
    """A Spanish letter on A4 at 300 dpi, slightly rotated, blurred and noisy, as a 1-page PDF."""
    rng = random.Random(seed)
    img = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 46)
    y = 250
    while y < 3200:
        line = " ".join(rng.choice(WORDS) for _ in range(7)).capitalize() + "."
        draw.text((200, y), line, fill=0, font=font)
        y += 64
    img = img.rotate(rng.uniform(0.5, 1.8), fillcolor=255, expand=False).filter(ImageFilter.GaussianBlur(0.7))
    img = ImageChops.add(img, Image.effect_noise(img.size, 18), 1.0, -128)
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(300, 300))
    return img2pdf.convert(buf.getvalue(), layout_fun=img2pdf.get_fixed_dpi_layout_fun((300, 300)))


def run_raw(files: list[Path], out: Path, workers: int) -> float:
    def one(path: Path) -> None:
        subprocess.run([sys.executable, "-c", RAW_SNIPPET, str(path), str(out / f"{path.stem}-{workers}.pdf")],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, files))
    return time.monotonic() - started


def run_product(app, env: dict[str, str], scans: list[bytes], workers: int) -> tuple[float, list[int]]:
    """Long-lived workers (as in production) are started and idle first; the clock runs from the
    first intake until every document is OCR'd."""
    from rq import Worker

    from oficialia.db import db
    from oficialia.dispatch import RqDispatcher
    from oficialia.forms import parse_filing_form
    from oficialia.intake import IntakeSettings, Upload, receive_filing
    from oficialia.models import Document, OcrStatus, User

    dispatcher = RqDispatcher(REDIS_URL, job_timeout=1200)
    procs = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=dispatcher.redis)) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
        with app.app_context():
            from oficialia.extensions import get_store

            clerk = db.session.execute(sa.select(User).where(User.email == "oficialia@demo.gob.mx")).scalar_one()
            ids = []
            started = time.monotonic()
            for n, scan in enumerate(scans):
                received = receive_filing(
                    db.session, get_store(),
                    form=parse_filing_form({"subject": f"Escaneo {workers}-{n}", "filer_name": "Banco de pruebas"}),
                    uploads=[Upload(filename=f"escaneo-{n}.pdf", data=scan)], actor=clerk,
                    settings=IntakeSettings.from_config(app.config), dispatcher=dispatcher)
                ids.extend(d.id for d in received.filing.documents)
            db.session.remove()
            while True:
                states = db.session.execute(sa.select(Document.ocr_status).where(Document.id.in_(ids))).scalars().all()
                db.session.remove()
                if all(s in (OcrStatus.DONE, OcrStatus.FAILED) for s in states):
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        dispatcher.redis.close()
    with app.app_context():
        docs = db.session.execute(sa.select(Document).where(Document.id.in_(ids))).scalars().all()
        failed = [(d.id, d.ocr_error) for d in docs if d.ocr_status is not OcrStatus.DONE]
        if failed:
            raise SystemExit(f"OCR failed in the product: {failed}")
        sizes = [int(d.derived_size or 0) for d in docs]
        db.session.remove()
    return elapsed, sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=6, help="one-page scans per run (default 6)")
    args = parser.parse_args()
    from flask_migrate import upgrade

    from app import create_app
    from oficialia.db import db
    from oficialia.demo import seed_demo

    Redis.from_url(REDIS_URL).flushdb()
    scans = [noisy_scan(n) for n in range(args.pages)]
    with scratch_database("oficialia_bench_ocr") as url, tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp_name:
        tmp = Path(tmp_name)
        config = {"DATABASE_URL": url, "STORAGE_URL": str(tmp / "storage"), "REDIS_URL": REDIS_URL,
                  "SECRET_KEY": "bench", "INSTANCE_PATH": str(tmp / "instance"), "RATELIMIT_ENABLED": False}
        env = os.environ | {"OFICIALIA_DATABASE_URL": url, "OFICIALIA_STORAGE_URL": config["STORAGE_URL"],
                            "OFICIALIA_REDIS_URL": REDIS_URL, "OFICIALIA_SECRET_KEY": "bench",
                            "OFICIALIA_OCR_SWEEP_SECONDS": "3600"}
        app = create_app(config)
        with app.app_context():
            upgrade()
            seed_demo(db.session)
            db.session.commit()
        files = []
        for n, scan in enumerate(scans):
            path = tmp / f"scan-{n}.pdf"
            path.write_bytes(scan)
            files.append(path)
        raw_out = tmp / "raw"
        raw_out.mkdir()
        # warm the page cache and Tesseract's models once, outside the timings
        run_raw(files[:1], raw_out, 1)
        results = {}
        for workers in (1, 2):
            raw_seconds = run_raw(files, raw_out, workers)
            product_seconds, sizes = run_product(app, env, scans, workers)
            results[workers] = (raw_seconds, product_seconds, sizes)
        with app.app_context():
            db.engine.dispose()

    pages = len(scans)
    lines = [
        "# OCR throughput", "",
        "Written by `python -m bench.ocr` (`make bench`); rerun it rather than editing this file.", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"{pages} noisy one-page 300 dpi scans ({sum(map(len, scans)) / pages / 1e6:.1f} MB each); "
        "product = intake on PostgreSQL + long-lived RQ `flask worker` processes, timed from the first "
        "intake to the last OCR (OCR child, stamp, storage, "
        "page texts, search index); raw = `ocrmypdf.ocr` with the same options, one process per file.", "",
        "| workers | raw pages/min | product pages/min | product / raw time per page | target |",
        "|---|---|---|---|---|",
    ]
    for workers, (raw_s, prod_s, _sizes) in results.items():
        ratio = prod_s / raw_s
        lines.append(f"| {workers} | {pages * 60 / raw_s:.1f} | {pages * 60 / prod_s:.1f} | {ratio:.2f}x | "
                     f"{'met' if ratio <= TARGET_RATIO else 'MISSED'} (<= {TARGET_RATIO}x) |")
    scaling = results[1][1] / results[2][1]
    raw_scaling = results[1][0] / results[2][0]
    sizes = results[1][2]
    lines += ["",
              f"- 2 workers vs 1 (product): {scaling:.2f}x — {'met' if scaling >= TARGET_SCALING else 'MISSED'} "
              f"(target >= {TARGET_SCALING}x); raw OCRmyPDF, 2 processes vs 1: {raw_scaling:.2f}x.",
              f"- Stored bytes per page of the derived copy (optimisation level 1): "
              f"{sum(sizes) / len(sizes) / 1e6:.2f} MB (min {min(sizes) / 1e6:.2f}, max {max(sizes) / 1e6:.2f}).",
              ""]
    write_results(RESULTS, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
