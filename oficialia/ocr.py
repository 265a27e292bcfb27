"""OCR of a filing's documents: bytes in, a searchable PDF/A and the text of each page out.

The engine sits behind the :class:`OcrEngine` protocol. :class:`OcrmypdfEngine` is the real one:
it turns images into a PDF with img2pdf, then runs OCRmyPDF (Tesseract) in a child process,
``python -m oficialia.ocr_runner``, with an address-space limit, no core dumps and a deadline
for the whole job, so a hostile or enormous file costs one failed job, never the worker.
:class:`FakeOcrEngine` stands in for it in pure unit tests.

Nothing here touches Flask, the database or the queue. OCRmyPDF's failures are translated into
:class:`OcrFailed`, whose message a clerk can read; the details go to the log.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import img2pdf
import pikepdf
import pypdf
import pypdf.errors
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from oficialia.errors import OficialiaError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

#: the kinds :func:`oficialia.inspection.sniff_kind` reports
KINDS = frozenset({"pdf", "jpeg", "png", "tiff"})
#: resolution assumed for an image that declares none (or an implausible one): a scanner's usual
ASSUMED_DPI = 300
#: below this an image's declared resolution is taken as missing (some writers put 1 or 0)
MIN_CREDIBLE_DPI = 50

_RUNNER_MODULE = "oficialia.ocr_runner"
#: the folder that holds the ``oficialia`` package, so the child imports this same code
_IMPORT_ROOT = Path(__file__).resolve().parents[1]
_POLL_SECONDS = 0.2
_STDERR_TAIL_BYTES = 64 * 1024
_MAX_LINE_BYTES = 64 * 1024
_LANGUAGES = re.compile(r"[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*")
_MEMORY_MARKERS = re.compile(
    # Python, C++, glibc, the dynamic loader, Leptonica (Tesseract's image library), Ghostscript
    r"MemoryError|bad_alloc|Cannot allocate memory|out of memory|failed to map segment|"
    r"cannot allocate|malloc fail|alloc fail|Insufficient memory|VMerror",
    re.IGNORECASE,
)

MSG_TIMEOUT = "El OCR excedió el tiempo máximo ({limit})."
MSG_MEMORY = "El OCR excedió la memoria permitida: el documento es demasiado grande o complejo."
MSG_ENCRYPTED = "El documento está cifrado (protegido con contraseña) y no se puede procesar."
MSG_DAMAGED_PDF = "El PDF está dañado y no se pudo procesar."
MSG_DAMAGED_IMAGE = "La imagen está dañada y no se pudo procesar."
MSG_NOT_INSTALLED = (
    "El servicio de OCR no está instalado correctamente (falta Tesseract, Ghostscript o el idioma). "
    "Avise al administrador del sistema."
)
MSG_TOO_MANY_PAGES = "El documento tiene {pages} páginas; el máximo para OCR es {maximum}."
MSG_IMAGE_TOO_LARGE = "El documento contiene imágenes demasiado grandes para el OCR."
MSG_PDFA = "No se pudo generar la copia PDF/A del documento."
MSG_CRASHED = (
    "El proceso de OCR terminó de forma inesperada; el documento puede estar dañado o ser demasiado grande."
)
MSG_FAILED = "El OCR no pudo procesar el documento."
MSG_PAGE_ERRORS = "El OCR no pudo leer una o más páginas del documento."

#: the runner reports OCRmyPDF's (and a few other) exceptions by class name
_MESSAGES_BY_ERROR = {
    "EncryptedPdfError": MSG_ENCRYPTED,
    "PasswordError": MSG_ENCRYPTED,
    "MissingDependencyError": MSG_NOT_INSTALLED,
    "TesseractConfigError": MSG_NOT_INSTALLED,
    "InputFileError": MSG_DAMAGED_PDF,
    "UnsupportedImageFormatError": MSG_DAMAGED_PDF,
    "DpiError": MSG_DAMAGED_PDF,
    "PdfError": MSG_DAMAGED_PDF,
    "DataDecodingError": MSG_DAMAGED_PDF,
    "DecompressionBombError": MSG_IMAGE_TOO_LARGE,
    "PdfaConversionFailedError": MSG_PDFA,
    "MemoryError": MSG_MEMORY,
    "PageErrors": MSG_PAGE_ERRORS,
}
#: OCRmyPDF's exit codes (ocrmypdf.exceptions.ExitCode), when no error name arrived
_MESSAGES_BY_EXIT_CODE = {
    2: MSG_DAMAGED_PDF,
    3: MSG_NOT_INSTALLED,
    4: MSG_PDFA,
    8: MSG_ENCRYPTED,
    9: MSG_NOT_INSTALLED,
    10: MSG_PDFA,
}


class OcrFailed(OficialiaError):
    """OCR could not produce a searchable copy; the message says why, in a clerk's words."""

    http_status = 422
    code = "ocr_failed"
    default_message = MSG_FAILED


@dataclass(frozen=True)
class OcrOptions:
    """How the OCR engine runs; one value per worker, handed in by the job layer."""

    #: Tesseract languages joined with ``+``
    languages: str = "spa+eng"
    #: deadline for the whole job, in seconds; the child's process group is killed after it
    timeout_seconds: int = 900
    #: address-space limit (RLIMIT_AS) of the OCR child and of each program it starts, in MiB;
    #: keep it below the worker's RAM, or the kernel's OOM killer acts first
    memory_mb: int = 3072
    max_pages: int = 500
    #: pages OCR'd in parallel inside one job (``ocrmypdf --jobs``)
    jobs: int = 1
    #: ``ocrmypdf --optimize`` level, 0 to 3
    optimize: int = 1
    #: Tesseract's orientation confidence needed to turn a page. OCRmyPDF's default (14) leaves
    #: a short upside-down page (confidence ~10) as it is; every page of the test corpus reports its
    #: true orientation at 9.3 or more, and text-free pages (a map) stay below 4.3.
    rotate_pages_threshold: float = 8.0

    def __post_init__(self) -> None:
        if not _LANGUAGES.fullmatch(self.languages):
            raise ValueError(f"languages must look like 'spa+eng', not {self.languages!r}")
        if self.timeout_seconds < 1 or self.memory_mb < 64 or self.max_pages < 1 or self.jobs < 1:
            raise ValueError("timeout_seconds, max_pages and jobs must be >= 1, memory_mb >= 64")
        if not 0 <= self.optimize <= 3:
            raise ValueError("optimize must be between 0 and 3")
        if not 0 <= self.rotate_pages_threshold <= 1000:
            raise ValueError("rotate_pages_threshold must be between 0 and 1000")


@dataclass(frozen=True)
class OcrResult:
    """What OCR made of one document."""

    #: the derived searchable copy (PDF/A-2b when :attr:`pdfa`); for a signed PDF, the original bytes
    pdf: bytes
    #: the text of each page, whitespace lightly normalised; one entry per page of :attr:`pdf`
    pages: tuple[str, ...]
    #: False when the original was returned as it is (a signed PDF)
    ocr_applied: bool
    #: whether :attr:`pdf` declares PDF/A conformance. A born-digital PDF that pikepdf cannot make
    #: PDF/A (fonts not embedded, constructs it cannot validate) comes back as a regular
    #: searchable PDF when Ghostscript may not be used on it (see :mod:`oficialia.ocr_runner`).
    pdfa: bool = False

    @property
    def text(self) -> str:
        """All pages' text, pages separated by a form feed."""
        return "\f".join(self.pages)


class OcrEngine(Protocol):
    """Port for OCR: the jobs depend on this, tests on :class:`FakeOcrEngine`."""

    def process(
        self, data: bytes, kind: str, *, signed: bool = False, progress: ProgressCallback | None = None
    ) -> OcrResult:
        """Make a searchable copy of one document and extract its text.

        :param data: the stored original, as uploaded.
        :param kind: ``"pdf"``, ``"jpeg"``, ``"png"`` or ``"tiff"`` (the inspected kind).
        :param signed: the PDF carries a digital signature: it is never altered.
        :param progress: called with ``(pages_done, total_pages)`` as OCR advances; an exception it
            raises cancels the job (the OCR process is killed) and propagates.
        :raises OcrFailed: the document could not be processed; the message says why.
        """
        ...


class OcrmypdfEngine:
    """OCR with OCRmyPDF and Tesseract, isolated in a child process.

    The recipe is the one measured in FIELD-NOTES §3: deskew, rotate pages, PDF/A-2b, with pages
    that already carry text kept as they are (``skip_text``). Signed PDFs are never altered.
    """

    def __init__(self, options: OcrOptions = OcrOptions()) -> None:  # noqa: B008 - frozen, immutable
        self.options = options

    def process(
        self, data: bytes, kind: str, *, signed: bool = False, progress: ProgressCallback | None = None
    ) -> OcrResult:
        """Make a searchable PDF/A copy of one document and extract its text.

        Images become a PDF first (img2pdf, one page per TIFF frame, 300 dpi when the image declares
        no resolution). A signed PDF, or one OCRmyPDF finds signed, comes back unaltered with its own
        text. All temporary files live in one temporary folder, removed whatever happens.

        :param data: the stored original, as uploaded; never modified.
        :param kind: ``"pdf"``, ``"jpeg"``, ``"png"`` or ``"tiff"``.
        :param signed: the PDF carries a digital signature.
        :param progress: called with ``(pages_done, total_pages)`` during the OCR stage.
        :return: the searchable copy and its text per page.
        :raises OcrFailed: encrypted, damaged, too many pages, over the time or memory limit, or
            the OCR programs are missing; the message is in Spanish for the clerk.
        :raises ValueError: ``kind`` is not one of the four kinds.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        if kind == "pdf" and signed:
            return _unaltered(data)
        pdf = data if kind == "pdf" else images_to_pdf(data)
        with tempfile.TemporaryDirectory(prefix="oficialia-ocr-") as folder:
            workdir = Path(folder)
            source, target = workdir / "in.pdf", workdir / "out.pdf"
            source.write_bytes(pdf)
            run = self._run_child(source, target, workdir, progress)
            if run.returncode == 0 and target.is_file():
                output = target.read_bytes()
            elif kind == "pdf" and run.error == "DigitalSignatureError":
                logger.info("OCRmyPDF found a digital signature; the original is kept as it is")
                return _unaltered(data)
            else:
                raise OcrFailed(self._failure_message(run))
        result = OcrResult(pdf=output, pages=extract_pages(output), ocr_applied=True, pdfa=_claims_pdfa(output))
        logger.info(
            "OCR done: %d page(s) in %.1f s, %d bytes, PDF/A %s, peak memory of the child %d MiB",
            len(result.pages), run.seconds, len(output), result.pdfa, run.peak_rss_kib // 1024,
        )
        return result

    # --- the child process ----------------------------------------------------------------------

    def _command(self, source: Path, target: Path) -> list[str]:
        options = self.options
        return [
            sys.executable, "-m", _RUNNER_MODULE, str(source), str(target),
            f"--language={options.languages}",
            f"--jobs={options.jobs}",
            f"--optimize={options.optimize}",
            f"--max-pages={options.max_pages}",
            f"--memory-mb={options.memory_mb}",
            f"--rotate-pages-threshold={options.rotate_pages_threshold}",
            f"--parent-pid={os.getpid()}",
        ]

    def _environment(self, workdir: Path) -> dict[str, str]:
        env = dict(os.environ)
        paths = [str(_IMPORT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        # OCRmyPDF's own temporary folder goes inside ours, so a killed job leaves nothing behind
        env["TMPDIR"] = str(workdir)
        # glibc reserves 64 MiB of address space per thread arena; RLIMIT_AS counts reservations
        env["MALLOC_ARENA_MAX"] = "2"
        return env

    def _run_child(self, source: Path, target: Path, workdir: Path, progress: ProgressCallback | None) -> _ChildRun:
        started = time.monotonic()
        deadline = started + self.options.timeout_seconds
        stderr_path = workdir / "runner.log"
        with open(stderr_path, "wb") as stderr:
            # The child sets its own RLIMIT_AS and RLIMIT_CORE first thing (oficialia.ocr_runner),
            # rather than a preexec_fn here: preexec_fn is unsafe in a threaded process, and the
            # ThreadDispatcher runs OCR from a thread pool in the web process.
            process = subprocess.Popen(  # noqa: S603 - our interpreter and module, fixed arguments
                self._command(source, target),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=workdir,
                env=self._environment(workdir),
                start_new_session=True,
                close_fds=True,
            )
        run = _ChildRun()
        try:
            assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
            run.timed_out = _follow(process, process.stdout, deadline, run, progress)
        finally:
            # The group is killed while its leader is still an unreaped zombie, so its id cannot
            # have been reused: this reaches every program the child started, and only those.
            _kill_group(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.stdout is not None:
                process.stdout.close()
            run.seconds = time.monotonic() - started
            run.peak_rss_kib = usage.ru_maxrss
        run.returncode = process.returncode
        run.stderr_tail = _tail(stderr_path)
        if run.returncode != 0 or run.timed_out:
            logger.warning(
                "OCR child failed: exit %s, timed out %s, error %s, %.1f s; stderr tail:\n%s",
                run.returncode, run.timed_out, run.error, run.seconds, run.stderr_tail[-4000:],
            )
        return run

    def _failure_message(self, run: _ChildRun) -> str:
        if run.timed_out:
            return MSG_TIMEOUT.format(limit=_duration(self.options.timeout_seconds))
        if run.error == "TooManyPages":
            pages = run.details.get("pages")
            return MSG_TOO_MANY_PAGES.format(pages=pages, maximum=self.options.max_pages)
        if run.error == "MemoryError" or _MEMORY_MARKERS.search(run.stderr_tail):
            return MSG_MEMORY
        if run.error in _MESSAGES_BY_ERROR:
            return _MESSAGES_BY_ERROR[run.error]
        if run.returncode < 0:
            return MSG_CRASHED
        return _MESSAGES_BY_EXIT_CODE.get(run.returncode, MSG_FAILED)


@dataclass
class _ChildRun:
    """What the parent learnt from one run of the OCR child."""

    returncode: int = 0
    timed_out: bool = False
    #: the exception class name the runner reported, if any
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""
    seconds: float = 0.0
    #: peak resident memory of the child or of the largest program it ran, in KiB
    peak_rss_kib: int = 0


def _follow(
    process: subprocess.Popen[bytes],
    stdout: IO[bytes],
    deadline: float,
    run: _ChildRun,
    progress: ProgressCallback | None,
) -> bool:
    """Read the child's JSON lines until it exits; return True if the deadline passed first."""
    fd = stdout.fileno()
    os.set_blocking(fd, False)
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        open_ = True
        while not _has_exited(process.pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            wait = min(remaining, _POLL_SECONDS)
            if not open_:
                time.sleep(wait)
                continue
            if selector.select(wait):
                chunk = _read_available(fd)
                if chunk is None:
                    continue
                if not chunk:
                    selector.unregister(fd)
                    open_ = False
                pending = _dispatch(pending + chunk, run, progress)
    # the child has exited: what it wrote before exiting is in the pipe already
    while open_ and (chunk := _read_available(fd)):
        pending = _dispatch(pending + chunk, run, progress)
    _dispatch(pending + b"\n", run, progress)
    return False


def _dispatch(buffer: bytes, run: _ChildRun, progress: ProgressCallback | None) -> bytes:
    """Act on the complete lines in ``buffer``; return the incomplete rest."""
    *lines, rest = buffer.split(b"\n")
    for line in lines:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            logger.debug("OCR child wrote a line that is not JSON: %r", line[:200])
            continue
        if not isinstance(message, dict):
            continue
        done, total = message.get("done"), message.get("total")
        if isinstance(done, int) and isinstance(total, int):
            if progress is not None:
                progress(done, total)
        elif isinstance(message.get("error"), str):
            run.error = message["error"]
            run.details = message
    return rest if len(rest) <= _MAX_LINE_BYTES else b""


def _read_available(fd: int) -> bytes | None:
    """Read what the pipe holds: bytes, ``b""`` at end of file, or None if nothing is there yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (WNOWAIT keeps its process group id ours)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(path: Path) -> str:
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - _STDERR_TAIL_BYTES))
        return file.read().decode("utf-8", "replace")


def _duration(seconds: int) -> str:
    """``15 min``, ``90 s``: how a limit reads in a message."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- Images -------------------------------------------------------------------------------------


def images_to_pdf(data: bytes) -> bytes:
    """Turn a JPEG, PNG or TIFF (every frame a page) into an image-only PDF, without re-encoding.

    An image that declares no credible resolution is laid out at :data:`ASSUMED_DPI`. Images
    img2pdf refuses as they are (an alpha channel, an unusual colour space) are first flattened
    onto white with Pillow and stored as PNG.

    :raises OcrFailed: the image cannot be decoded.
    """
    try:
        dpi = _declared_dpi(data)
        layout = img2pdf.default_layout_fun if dpi else img2pdf.get_fixed_dpi_layout_fun((ASSUMED_DPI, ASSUMED_DPI))
        try:
            converted = img2pdf.convert(data, layout_fun=layout, rotation=img2pdf.Rotation.ifvalid)
        except (
            img2pdf.AlphaChannelError,
            img2pdf.ImageOpenError,
            img2pdf.JpegColorspaceError,
            img2pdf.UnsupportedColorspaceError,
            ValueError,
        ) as e:
            logger.info("img2pdf refused the image as it is (%s: %s); flattening it", type(e).__name__, e)
            frames = _flattened_frames(data, dpi or (ASSUMED_DPI, ASSUMED_DPI))
            converted = img2pdf.convert(frames, rotation=img2pdf.Rotation.ifvalid)
    except Image.DecompressionBombError as e:
        raise OcrFailed(MSG_IMAGE_TOO_LARGE) from e
    except (UnidentifiedImageError, img2pdf.ImageOpenError, OSError, ValueError, SyntaxError, EOFError) as e:
        logger.info("Image could not be converted to PDF: %s: %s", type(e).__name__, e)
        raise OcrFailed(MSG_DAMAGED_IMAGE) from e
    if converted is None:  # only when an output stream is given
        raise OcrFailed(MSG_DAMAGED_IMAGE)
    return bytes(converted)


def _declared_dpi(data: bytes) -> tuple[float, float] | None:
    with _warnings_logged("Pillow"), Image.open(io.BytesIO(data)) as image:
        dpi = image.info.get("dpi")
    if not isinstance(dpi, tuple) or len(dpi) != 2:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    return (x, y) if min(x, y) >= MIN_CREDIBLE_DPI else None


def _flattened_frames(data: bytes, dpi: tuple[float, float]) -> list[bytes]:
    frames = []
    with _warnings_logged("Pillow"), Image.open(io.BytesIO(data)) as image:
        for frame in ImageSequence.Iterator(image):
            page = _flatten(ImageOps.exif_transpose(frame))
            out = io.BytesIO()
            page.save(out, format="PNG", dpi=dpi)
            frames.append(out.getvalue())
    return frames


def _flatten(image: Image.Image) -> Image.Image:
    """Gray, RGB or bilevel, with any transparency composited onto white paper."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit or float samples: scale down to 8 bits rather than clip to white
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if "A" in image.mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGB", rgba.size, "white")
        paper.paste(rgba, mask=rgba.getchannel("A"))
        return paper
    return image.convert("RGB")


# --- PDFs ---------------------------------------------------------------------------------------


def extract_pages(pdf: bytes) -> tuple[str, ...]:
    """The text of every page, read with pypdf and lightly normalised (see :func:`normalise_text`).

    A page whose text cannot be read counts as empty; the PDF itself is what matters.

    :raises OcrFailed: the PDF cannot be parsed at all.
    """
    texts = []
    with _warnings_logged("pypdf"):
        try:
            reader = pypdf.PdfReader(io.BytesIO(pdf), strict=False)
            pages = list(reader.pages)
        except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError, RecursionError) as e:
            logger.warning("PDF text could not be read: %s: %s", type(e).__name__, e)
            raise OcrFailed(MSG_DAMAGED_PDF) from e
        for number, page in enumerate(pages, start=1):
            try:
                text = page.extract_text() or ""
            except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
                logger.warning("Text of page %d could not be read: %s: %s", number, type(e).__name__, e)
                text = ""
            texts.append(normalise_text(text))
    return tuple(texts)


def normalise_text(text: str) -> str:
    """Collapse runs of spaces and tabs, trim lines, keep at most one empty line between paragraphs."""
    lines: list[str] = []
    for raw in text.replace("\x00", "").splitlines():
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def _unaltered(data: bytes) -> OcrResult:
    """The result for a signed PDF: its own bytes and its own text."""
    return OcrResult(pdf=data, pages=extract_pages(data), ocr_applied=False, pdfa=_claims_pdfa(data))


def _claims_pdfa(pdf: bytes) -> bool:
    """Whether the XMP metadata declares PDF/A conformance (``pdfaid:part``)."""
    try:
        with pikepdf.open(io.BytesIO(pdf)) as document:
            return bool(document.open_metadata().pdfa_status)
    except (pikepdf.PdfError, ValueError, KeyError) as e:
        logger.info("PDF/A metadata could not be read: %s: %s", type(e).__name__, e)
        return False


def count_pages(pdf: bytes) -> int:
    """Pages of a PDF, as pikepdf counts them.

    :raises OcrFailed: the PDF cannot be opened.
    """
    try:
        with pikepdf.open(io.BytesIO(pdf)) as document:
            return len(document.pages)
    except pikepdf.PasswordError as e:
        raise OcrFailed(MSG_ENCRYPTED) from e
    except (pikepdf.PdfError, ValueError, KeyError, RecursionError) as e:
        raise OcrFailed(MSG_DAMAGED_PDF) from e


@contextmanager
def _warnings_logged(library: str) -> Iterator[None]:
    """Log a library's warnings about the file instead of raising them (tests run with -W error).

    Not thread-safe before Python 3.14, like every use of :func:`warnings.catch_warnings`.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        logger.debug("%s warning: %s: %s", library, warning.category.__name__, warning.message)


# --- The fake -----------------------------------------------------------------------------------


class FakeOcrEngine:
    """An :class:`OcrEngine` for pure unit tests: no Tesseract, no child process, instant.

    It returns the PDF (images converted with img2pdf, as the real engine does) and the same
    ``text`` for every page, and records each call in :attr:`calls`.
    """

    def __init__(self, text: str = "Texto reconocido de prueba.") -> None:
        self.text = text
        #: ``(kind, signed)`` of every call, in order
        self.calls: list[tuple[str, bool]] = []

    def process(
        self, data: bytes, kind: str, *, signed: bool = False, progress: ProgressCallback | None = None
    ) -> OcrResult:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.calls.append((kind, signed))
        if kind == "pdf" and signed:
            return OcrResult(pdf=data, pages=extract_pages(data), ocr_applied=False, pdfa=False)
        pdf = data if kind == "pdf" else images_to_pdf(data)
        total = count_pages(pdf)
        for done in range(total + 1):
            if progress is not None:
                progress(done, total)
        return OcrResult(pdf=pdf, pages=(self.text,) * total, ocr_applied=True, pdfa=False)
