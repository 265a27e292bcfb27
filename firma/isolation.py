"""Run :func:`firma.verify.verify_pdf` in child processes with a time and a memory limit.

A hostile PDF must not take the service down: each verification runs in a long-lived worker
process (``python -m firma.isolation``) that caps its own address space and core dumps, and the
parent kills the worker's whole process group when an answer does not come in time. A worker
that ran out of time, memory or luck is replaced by a fresh one; the caller gets the fail-closed
report NO SE PUEDE VERIFICAR with the reason. Workers stay alive between verifications, so the
price of starting Python and importing pyHanko is paid once per worker, not once per file.

Parent and worker talk over the worker's standard input and output in frames (an 8-byte
big-endian length, then the bytes): a JSON header, then the PDF, the trust roots and the
intermediates; the answer is one JSON frame (``VerificationReport.to_dict()``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from .report import VerificationReport

__all__ = ["IsolatedVerifier"]

#: worker exit status after a MemoryError (it answers first, then leaves)
EXIT_MEMORY = 70
_HEADER = 8
_PIPE_SIZE = 1024 * 1024


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(_HEADER, "big"))
    stream.write(data)


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("peer closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes]) -> bytes:
    size = int.from_bytes(_read_exact(stream, _HEADER), "big")
    return _read_exact(stream, size)


class _Worker:
    """One child process and its pipes."""

    def __init__(self, memory_mb: int, max_jobs: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "firma.isolation", "--memory-mb", str(memory_mb), "--max-jobs", str(max_jobs),
             "--parent-pid", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        self.jobs = 0
        self.max_jobs = max_jobs
        # a PDF bigger than the default 64 KiB pipe would otherwise cost a round of wake-ups per 64 KiB
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
                except OSError:
                    pass  # above /proc/sys/fs/pipe-max-size: the default size works, only slower

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.jobs < self.max_jobs

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.process.wait()

    def request(self, frames: list[bytes], deadline: float) -> dict[str, Any]:
        """Send one verification and wait for its answer until ``deadline`` (monotonic).

        :raises TimeoutError: no answer in time (the caller kills the worker).
        :raises EOFError: the worker died (memory limit, crash).
        """
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:
            raise EOFError("worker has no pipes")
        self.jobs += 1
        try:
            for frame in frames:
                _write_frame(stdin, frame)
            stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise EOFError("worker gone") from e
        fd = stdout.fileno()
        buffer = bytearray()
        needed = _HEADER
        have_header = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, max(needed - len(buffer), 65536) if not have_header else needed - len(buffer))
            if not chunk:
                raise EOFError("worker closed its output")
            buffer.extend(chunk)
            if not have_header and len(buffer) >= _HEADER:
                size = int.from_bytes(buffer[:_HEADER], "big")
                del buffer[:_HEADER]
                needed = size
                have_header = True
            if have_header and len(buffer) >= needed:
                answer: dict[str, Any] = json.loads(bytes(buffer[:needed]))
                return answer


class IsolatedVerifier:
    """A small pool of verification workers with a per-file time limit and a memory limit.

    Thread-safe: each call takes an idle worker (starting one when fewer than ``workers`` exist)
    and gives it back afterwards. A pool belongs to the process that created it; after a fork
    the child builds its own.

    :param timeout: seconds one verification may take, start-up of a fresh worker included.
    :param memory_mb: address-space limit of each worker, in MiB.
    :param workers: workers at most (concurrent verifications).
    :param max_jobs: verifications per worker before it is replaced (bounds any slow leak).
    """

    def __init__(self, *, timeout: float = 10.0, memory_mb: int = 1024, workers: int = 2, max_jobs: int = 500) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.max_jobs = max_jobs
        self.workers = workers
        self._reset()

    def _reset(self) -> None:
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.workers)
        self._pid = os.getpid()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def verify(
        self,
        pdf: bytes,
        *,
        trust_roots: Sequence[bytes],
        intermediates: Sequence[bytes] = (),
        at: datetime | None = None,
        allow_fetch: bool = False,
        require_revocation: bool = False,
    ) -> VerificationReport:
        """Verify ``pdf`` in a worker; same parameters and answer as :func:`firma.verify.verify_pdf`.

        Never raises for a hostile file: a time-out, the memory limit or a crashed worker give
        NO SE PUEDE VERIFICAR with the reason.
        """
        if os.getpid() != self._pid:  # forked: the workers belong to the parent
            self._reset()
        header = json.dumps({"at": at.isoformat() if at else None, "allow_fetch": allow_fetch,
                             "require_revocation": require_revocation,
                             "roots": len(trust_roots), "intermediates": len(intermediates)}).encode()
        frames = [header, pdf, *trust_roots, *intermediates]
        deadline = time.monotonic() + self.timeout
        with self._slots:
            worker = self._take()
            try:
                answer = worker.request(frames, deadline)
            except TimeoutError:
                self._discard(worker)
                return self._failed(pdf, f"la verificación excedió el tiempo límite de {self.timeout:g} s; el archivo "
                                         "puede estar construido para agotar los recursos del verificador.", "TIMEOUT")
            except EOFError:
                code = worker.process.poll()
                self._discard(worker)
                if code == EXIT_MEMORY or code == -signal.SIGKILL or code is None:
                    why = f"la verificación excedió el límite de memoria ({self.memory_mb} MiB)"
                else:
                    why = f"el proceso de verificación terminó de forma inesperada (código {code})"
                return self._failed(pdf, why + "; el archivo puede estar construido para agotar los recursos.",
                                    "RESOURCE_LIMIT")
            self._give_back(worker)
        if "error" in answer:
            return self._failed(pdf, str(answer["error"]), "RESOURCE_LIMIT")
        return VerificationReport.from_dict(answer)

    @staticmethod
    def _failed(pdf: bytes, why: str, limit: str) -> VerificationReport:
        return VerificationReport.cannot_verify(
            f"No se pudo completar la verificación: {why}", sha256=hashlib.sha256(pdf).hexdigest(), size=len(pdf),
            sub_indication="GENERIC", notes=(f"límite: {limit}",))

    def _take(self) -> _Worker:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = _Worker(self.memory_mb, self.max_jobs)
                with self._lock:
                    self._all.append(worker)
                return worker
            if worker.alive:
                return worker
            self._discard(worker)

    def _give_back(self, worker: _Worker) -> None:
        if worker.alive:
            self._idle.put(worker)
        else:
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def close(self) -> None:
        """Stop every worker (idle ones; busy ones are stopped when they come back)."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            self._discard(worker)

    @property
    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all]


# --------------------------------------------------------------------------------------------
# the worker side


def _limit_memory(memory_mb: int) -> None:
    import resource

    wanted = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _watch_parent(parent: int) -> None:
    """Die with the parent: an orphaned worker must not live on."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)


def serve(memory_mb: int, max_jobs: int, parent: int) -> int:
    """The worker loop: read requests on standard input, answer on standard output."""
    import logging

    # pyHanko logs every untrusted chain with a traceback; the report carries what matters
    logging.disable(logging.CRITICAL)
    from .verify import verify_pdf

    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    stdin = sys.stdin.buffer
    # the real standard output becomes the private channel; anything a library prints goes to stderr
    sys.stdout.flush()
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    if memory_mb:
        _limit_memory(memory_mb)
    for _ in range(max_jobs):
        try:
            answer = _serve_one(stdin, verify_pdf)
        except EOFError:
            return 0
        except MemoryError:
            answer = json.dumps({"error": f"la verificación excedió el límite de memoria ({memory_mb} MiB); el "
                                          "archivo puede estar construido para agotar los recursos."}).encode()
            _write_frame(stdout, answer)
            stdout.flush()
            return EXIT_MEMORY
        _write_frame(stdout, answer)
        stdout.flush()
    return 0


def _serve_one(stdin: IO[bytes], verify: Any) -> bytes:
    header = json.loads(_read_frame(stdin))
    pdf = _read_frame(stdin)
    roots = [_read_frame(stdin) for _ in range(int(header["roots"]))]
    intermediates = [_read_frame(stdin) for _ in range(int(header["intermediates"]))]
    at = datetime.fromisoformat(header["at"]) if header.get("at") else None
    report = verify(pdf, trust_roots=roots, intermediates=intermediates, at=at,
                    allow_fetch=bool(header.get("allow_fetch")),
                    require_revocation=bool(header.get("require_revocation")))
    return json.dumps(report.to_dict()).encode()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m firma.isolation")
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--max-jobs", type=int, default=500)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    return serve(args.memory_mb, args.max_jobs, args.parent_pid or os.getppid())


if __name__ == "__main__":
    sys.exit(main())
