"""The child process that runs OCRmyPDF on one file, and the OCRmyPDF plugin it registers.

:mod:`oficialia.ocr` starts ``python -m oficialia.ocr_runner IN OUT --language=spa+eng ...`` in a
session of its own and kills the session at its deadline. The runner first caps its own address
space and core dumps (inherited by Tesseract and the rest), then runs the OCRmyPDF Python API. It
talks to the parent over the real standard output, one JSON object per line:

- ``{"done": 2, "total": 5}``: pages through the OCR stage so far, from the progress bar plugin;
- ``{"error": "EncryptedPdfError", "exit_code": 8}``: why the run failed, by exception class name.

Anything else the process prints (OCRmyPDF's log, a library's stray ``print``, Tesseract's or
Ghostscript's chatter) goes to standard error, which the parent keeps for its log only. The
module imports nothing heavy at the top, so that a child started with a tiny memory limit still
gets as far as reporting a :class:`MemoryError`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import IO, Any

import pluggy

#: OCRmyPDF's hook marker (the same object as ``ocrmypdf.hookimpl``, without importing ocrmypdf)
hookimpl = pluggy.HookimplMarker("ocrmypdf")

#: exit status for a :class:`MemoryError` raised in this process (OCRmyPDF's own codes are 0-15, 130)
EXIT_MEMORY = 70
#: exit status for any other unexpected exception; its traceback is on standard error
EXIT_CRASH = 71
#: exit status when OCRmyPDF finished but logged errors (a page Tesseract could not read)
EXIT_PAGE_ERRORS = 72

#: Ghostscript versions OCRmyPDF refuses in skip-text mode, because they corrupt existing text
_BAD_GHOSTSCRIPT = ((10, 0, 0), (10, 2, 1))

logger = logging.getLogger("oficialia.ocr_runner")

# Set by main() in this process; read by the hooks, which OCRmyPDF calls in the same process.
_channel: IO[str] | None = None
_max_pages = 0


class TooManyPagesError(Exception):
    """The document has more pages than the OCR service accepts."""

    def __init__(self, pages: int) -> None:
        super().__init__(f"{pages} pages")
        self.pages = pages


def send(**message: Any) -> None:
    """Write one JSON line to the parent, if there is a channel."""
    if _channel is None:
        return
    _channel.write(json.dumps(message) + "\n")
    _channel.flush()


class ErrorRecorder(logging.Handler):
    """Remembers the error records OCRmyPDF logs.

    When Tesseract fails on a page in a way OCRmyPDF does not treat as fatal ("Error during
    processing.", as under a tight memory limit), OCRmyPDF logs an error and writes the page with
    no text. A mail-room cannot take a copy with pages silently missing their text.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}"[:500])


class JsonLinesProgressBar:
    """OCRmyPDF progress bar that reports the per-page OCR stage as JSON lines.

    OCRmyPDF creates one bar per stage and calls it only in its main process. The OCR stage
    advances by half a page twice per page (OCR, then grafting), so whole pages are reported.
    Other stages (optimising, linearising, checking) are silent.
    """

    def __init__(
        self,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str | None = None,
        disable: bool = False,
        **kwargs: Any,
    ) -> None:
        self._active = not disable and desc == "OCR" and unit == "page" and bool(total)
        self._total = int(total or 0)
        self._done = 0.0
        self._sent = -1

    def __enter__(self) -> JsonLinesProgressBar:
        self._report()
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, n: float | None = 1, *, completed: float | None = None) -> None:
        if completed is not None:
            self._done = completed
        else:
            self._done += 1 if n is None else n
        self._report()

    def _report(self) -> None:
        if not self._active:
            return
        done = min(int(self._done), self._total)
        if done > self._sent:
            self._sent = done
            send(done=done, total=self._total)


@hookimpl
def get_progressbar_class() -> type[JsonLinesProgressBar]:
    return JsonLinesProgressBar


@hookimpl
def validate(pdfinfo: Sequence[object], options: object) -> None:
    if _max_pages and len(pdfinfo) > _max_pages:
        raise TooManyPagesError(len(pdfinfo))


def watch_parent(parent: int) -> None:
    """Kill this whole process group as soon as the process that started us is gone.

    The parent kills the group on its own deadline, but if the worker itself dies (an RQ job
    timeout kills the work horse with SIGKILL), nobody would: the OCR would run on, orphaned.
    """
    while os.getppid() == parent:
        time.sleep(0.5)
    if os.getpgrp() == os.getpid():  # our own group, as oficialia.ocr starts us
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def limit_resources(memory_mb: int) -> None:
    """Cap this process's address space and forbid core dumps; every program it starts inherits both.

    A hard limit below ours (set by whoever started the worker) is kept: it cannot be raised.
    """
    wanted = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def pdfa_backend() -> str:
    """Choose OCRmyPDF's PDF/A backend for the installed Ghostscript.

    With Ghostscript 10.0.0 to 10.02.0 (Debian 12 ships 10.0.0) OCRmyPDF refuses ``skip_text``
    runs, because those versions corrupt existing text; the ``internal`` backend (pikepdf) makes
    the PDF/A without Ghostscript. With a good Ghostscript, ``auto`` tries the internal backend
    first and falls back to Ghostscript, which can also embed fonts a born-digital PDF lacks.
    """
    gs = shutil.which("gs")
    if gs is None:
        logger.warning("Ghostscript not found; PDF/A is made by pikepdf alone")
        return "internal"
    try:
        found = subprocess.run(  # noqa: S603 - a fixed argument list
            [gs, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "internal"
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", found)
    if match is None:
        return "internal"
    version = tuple(int(part or 0) for part in match.groups())
    low, high = _BAD_GHOSTSCRIPT
    return "internal" if low <= version < high else "auto"


def run(args: argparse.Namespace) -> int:
    """Run OCRmyPDF once; report failures on the channel and return the exit status."""
    import ocrmypdf
    from ocrmypdf.exceptions import ExitCodeException

    backend = pdfa_backend()
    logger.info("OCR of %s with languages %s, PDF/A backend %s", args.input, args.language, backend)
    errors = ErrorRecorder()
    logging.getLogger("ocrmypdf").addHandler(errors)
    try:
        code = ocrmypdf.ocr(
            args.input,
            args.output,
            language=args.language.split("+"),
            deskew=True,
            rotate_pages=True,
            rotate_pages_threshold=args.rotate_pages_threshold,
            # pages that carry text are kept as they are; only the others are rasterised and OCR'd
            skip_text=True,
            # PDF/A-2b when it can be made without damaging the file, a regular PDF otherwise;
            # the parent reads the result's XMP to tell which
            output_type="auto",
            pdfa_backend=backend,
            optimize=args.optimize,
            jobs=args.jobs,
            progress_bar=True,
            plugins=["oficialia.ocr_runner"],
        )
    except TooManyPagesError as e:
        send(error="TooManyPages", pages=e.pages)
        return 2
    except ExitCodeException as e:
        logger.warning("OCRmyPDF stopped: %s: %s", type(e).__name__, e)
        send(error=type(e).__name__, exit_code=int(e.exit_code))
        return int(e.exit_code)
    if code != 0:
        send(error="ExitCode", exit_code=int(code))
        return int(code)
    if errors.messages:
        send(error="PageErrors", messages=errors.messages[:5])
        return EXIT_PAGE_ERRORS
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m oficialia.ocr_runner")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--language", default="spa+eng")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--optimize", type=int, default=1)
    parser.add_argument("--max-pages", type=int, default=0)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--rotate-pages-threshold", type=float, default=8.0)
    parser.add_argument("--parent-pid", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process.

    The real standard output becomes the private JSON channel, and file descriptor 1 is pointed
    at standard error, so nothing else can write on the channel.
    """
    global _channel, _max_pages
    args = parse_args(argv)
    if args.memory_mb:
        limit_resources(args.memory_mb)
    # the parent names itself: had it died before this line, os.getppid() would already be init's
    parent = args.parent_pid or os.getppid()
    threading.Thread(target=watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    sys.stdout.flush()
    _channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    _max_pages = args.max_pages
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except MemoryError:
        send(error="MemoryError")
        return EXIT_MEMORY
    except Exception as e:  # the parent maps the name; the traceback stays in the log
        traceback.print_exc(file=sys.stderr)
        send(error=type(e).__name__)
        return EXIT_CRASH


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__: OCRmyPDF imports the plugin as
    # "oficialia.ocr_runner", and the hooks must see the channel main() sets up.
    from oficialia.ocr_runner import main as _main

    sys.exit(_main())
