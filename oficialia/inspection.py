"""Inspection of every uploaded file before anything is stored.

This module owns the decision "may this upload enter the mail-room?". The type comes from the
content's magic bytes, never from the name the user gave it; PDFs are opened with pikepdf and images
with Pillow, and both are checked against :class:`UploadLimits` (bytes, pages, pixels, page size)
*before* anything expensive happens. Inspection reads PDF dictionaries only: it never decompresses a
content or image stream, so a deflate bomb costs nothing here. Every refusal is a
:class:`~oficialia.errors.RejectedFile` (or subclass) with a Spanish message the user can act on;
third-party exceptions are translated with ``raise ... from e`` so that no hostile file becomes a 500.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import pikepdf
from PIL import Image, UnidentifiedImageError

from oficialia.errors import FileTooLarge, RejectedFile, UnsupportedFileType

logger = logging.getLogger(__name__)

_PDF_MAGIC: Final = b"%PDF-"
#: PDF readers accept the header anywhere in the first KiB (ISO 32000-2, annex H hint; qpdf does too)
_PDF_HEADER_WINDOW: Final = 1024
_JPEG_MAGIC: Final = b"\xff\xd8\xff"
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS: Final = (b"II*\x00", b"MM\x00*")

#: kind -> (content type, extension, Pillow format name)
_IMAGE_TYPES: Final = {
    "jpeg": ("image/jpeg", ".jpg", "JPEG"),
    "png": ("image/png", ".png", "PNG"),
    "tiff": ("image/tiff", ".tif", "TIFF"),
}

#: Form XObjects and patterns may nest; real documents stay far below this depth
_MAX_RESOURCE_DEPTH: Final = 12
#: AcroForm field trees are shallow; the bound (and a visited set) defeat /Kids loops
_MAX_FIELD_DEPTH: Final = 32
#: /Parent chains for inherited page attributes
_MAX_PARENT_DEPTH: Final = 64

_MSG_EMPTY: Final = "El archivo está vacío."
_MSG_PDF_DAMAGED: Final = "El PDF está dañado o no es un PDF válido."
_MSG_PDF_ENCRYPTED: Final = "El PDF está protegido con contraseña o cifrado; envíelo sin cifrar."
_MSG_PDF_NO_PAGES: Final = "El PDF no tiene páginas."
_MSG_IMAGE_DAMAGED: Final = "La imagen está dañada o incompleta."

#: What pikepdf raises on hostile input: its own tree (PdfError, DataDecodingError...), plus what
#: pybind11 translates from C++ (std::runtime_error, std::length_error, std::bad_alloc). A file that
#: makes qpdf allocate without bound is the uploader's fault, hence MemoryError is a refusal, not a 500.
_PIKEPDF_ERRORS: Final = (pikepdf.PikepdfError, RuntimeError, ValueError, OverflowError, MemoryError)

#: What Pillow raises on damaged or hostile images (the list Pillow's own fuzzers tolerate).
_PILLOW_ERRORS: Final = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
)


@dataclass(frozen=True)
class UploadLimits:
    """Limits an upload must respect; the defaults suit 600 dpi scans of A4/letter/legal pages."""

    #: largest accepted file, in bytes
    max_file_bytes: int = 25 * 1024 * 1024
    #: most PDF pages or image frames
    max_pages: int = 500
    #: per image, per frame, and per image embedded in a PDF page (a 600 dpi A4 page is ~35 Mpx)
    max_pixels: int = 40_000_000
    #: longest side of a PDF page, in points (14400 pt = 200 in, the PDF 1.x limit)
    max_page_points: float = 14400.0


@dataclass(frozen=True)
class InspectedFile:
    """What inspection learnt about an accepted upload."""

    #: ``"pdf"``, ``"jpeg"``, ``"png"`` or ``"tiff"``
    kind: str
    #: the MIME type matching :attr:`kind`
    content_type: str
    #: PDF pages or image frames
    pages: int
    #: size in bytes
    size: int
    #: ``".pdf"``, ``".jpg"``, ``".png"`` or ``".tif"``, from the content, never from the user's name
    extension: str
    #: PDF only: some page (or Form XObject on it) has fonts in its resources, a cheap proxy for text
    has_text: bool
    #: PDF only: a signature field holds a value, or the AcroForm declares signatures
    signed: bool


def inspect_upload(data: bytes, filename: str, limits: UploadLimits = UploadLimits()) -> InspectedFile:
    """Decide whether an uploaded file may be stored, and describe it.

    The checks run cheapest first: emptiness, size, magic bytes, then the structure of the PDF or the
    decoding of every image frame. Nothing is written anywhere.

    :param data: the whole uploaded file.
    :param filename: the name the user gave it; used only in error messages.
    :param limits: size, page and pixel limits to enforce.
    :return: the facts about an acceptable file.
    :raises RejectedFile: empty, damaged, encrypted, or beyond a page, pixel or page-size limit.
    :raises FileTooLarge: larger than ``limits.max_file_bytes``.
    :raises UnsupportedFileType: the content is not PDF, JPEG, PNG or TIFF, whatever its name says.
    """
    if not data:
        raise RejectedFile(_MSG_EMPTY, filename=filename)
    if len(data) > limits.max_file_bytes:
        size, maximum = _megabytes(len(data)), _megabytes(limits.max_file_bytes)
        raise FileTooLarge(f"El archivo pesa {size} MB; el máximo es {maximum} MB.", filename=filename)
    kind = sniff_kind(data)
    if kind is None:
        raise UnsupportedFileType(UnsupportedFileType.default_message, filename=filename)
    if kind == "pdf":
        return _inspect_pdf(data, filename, limits)
    return _inspect_image(data, filename, kind, limits)


def sniff_kind(data: bytes) -> str | None:
    """Tell the file type from its magic bytes alone.

    :param data: the file, or at least its first KiB.
    :return: ``"pdf"``, ``"jpeg"``, ``"png"``, ``"tiff"``, or ``None`` for anything else.
    """
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_TIFF_MAGICS):
        return "tiff"
    if _PDF_MAGIC in data[:_PDF_HEADER_WINDOW]:
        return "pdf"
    return None


# --- PDF ----------------------------------------------------------------------------------------


def _inspect_pdf(data: bytes, filename: str, limits: UploadLimits) -> InspectedFile:
    with _quiet_warnings("pikepdf"):
        try:
            with pikepdf.Pdf.open(io.BytesIO(data)) as pdf:
                if pdf.is_encrypted:
                    # opened with the empty user password: still encrypted at rest, OCR and signing
                    # would have to decrypt and re-encrypt it, so the citizen sends it in the clear
                    raise RejectedFile(_MSG_PDF_ENCRYPTED, filename=filename)
                # qpdf walks the page tree here and raises on /Pages loops
                page_count = len(pdf.pages)
                _check_page_count(page_count, filename, limits)
                has_text = False
                for number, page in enumerate(pdf.pages, start=1):
                    has_text = _check_page(page.obj, number, filename, limits) or has_text
                signed = _is_signed(pdf)
        except pikepdf.PasswordError as e:
            raise RejectedFile(_MSG_PDF_ENCRYPTED, filename=filename) from e
        except _PIKEPDF_ERRORS as e:
            logger.info("PDF refused, %r: %s: %s", filename, type(e).__name__, e)
            raise RejectedFile(_MSG_PDF_DAMAGED, filename=filename) from e
    return InspectedFile(
        kind="pdf",
        content_type="application/pdf",
        pages=page_count,
        size=len(data),
        extension=".pdf",
        has_text=has_text,
        signed=signed,
    )


def _check_page_count(count: int, filename: str, limits: UploadLimits) -> None:
    if count == 0:
        raise RejectedFile(_MSG_PDF_NO_PAGES, filename=filename)
    if count > limits.max_pages:
        raise RejectedFile(
            f"El PDF tiene {count} páginas; el máximo es {limits.max_pages}.", filename=filename
        )


def _check_page(page: pikepdf.Dictionary, number: int, filename: str, limits: UploadLimits) -> bool:
    """Check one page's size and images; return whether it seems to carry text."""
    _check_page_size(page, number, filename, limits)
    resources = _inherited(page, "/Resources")
    if not isinstance(resources, pikepdf.Dictionary):
        return False
    return _walk_resources(resources, number, filename, limits, depth=0, seen=set())


def _check_page_size(page: pikepdf.Dictionary, number: int, filename: str, limits: UploadLimits) -> None:
    box = _inherited(page, "/MediaBox")
    corners = [_number(v) for v in box] if isinstance(box, pikepdf.Array) else []
    unit = _number(page.get("/UserUnit", 1))
    if len(corners) != 4 or unit is None or unit <= 0:
        raise RejectedFile(f"La página {number} del PDF tiene un tamaño no válido.", filename=filename)
    x1, y1, x2, y2 = corners
    if x1 is None or y1 is None or x2 is None or y2 is None:
        raise RejectedFile(f"La página {number} del PDF tiene un tamaño no válido.", filename=filename)
    # /UserUnit (PDF 1.6) scales the default space, so a small MediaBox can still be a huge page
    width, height = abs(x2 - x1) * unit, abs(y2 - y1) * unit
    if width == 0 or height == 0:
        raise RejectedFile(f"La página {number} del PDF tiene un tamaño no válido.", filename=filename)
    if max(width, height) > limits.max_page_points:
        raise RejectedFile(
            f"La página {number} del PDF mide {width / 72:.0f} × {height / 72:.0f} pulgadas; "
            f"el máximo por lado es {limits.max_page_points / 72:.0f} pulgadas.",
            filename=filename,
        )


def _walk_resources(
    resources: pikepdf.Dictionary,
    number: int,
    filename: str,
    limits: UploadLimits,
    *,
    depth: int,
    seen: set[tuple[int, int]],
) -> bool:
    """Check the images reachable from a resource dictionary; return whether fonts are present.

    Only dictionaries are read: image and form streams are never decoded. Form XObjects and
    patterns carry their own resources, so they are followed, with a depth bound and a set of
    visited objects against reference loops.
    """
    fonts = resources.get("/Font")
    has_text = isinstance(fonts, pikepdf.Dictionary) and len(fonts) > 0
    if depth > _MAX_RESOURCE_DEPTH:
        return has_text
    for category in ("/XObject", "/Pattern"):
        entries = resources.get(category)
        if not isinstance(entries, pikepdf.Dictionary):
            continue
        for _name, child in entries.items():
            if not isinstance(child, pikepdf.Stream | pikepdf.Dictionary) or not _first_visit(child, seen):
                continue
            if child.get("/Subtype") == pikepdf.Name.Image:
                _check_pdf_image(child, number, filename, limits)
                continue
            child_resources = child.get("/Resources")
            if isinstance(child_resources, pikepdf.Dictionary) and _first_visit(child_resources, seen):
                has_text = (
                    _walk_resources(child_resources, number, filename, limits, depth=depth + 1, seen=seen)
                    or has_text
                )
    return has_text


def _check_pdf_image(image: pikepdf.Object, number: int, filename: str, limits: UploadLimits) -> None:
    # a soft mask is decoded at its own resolution when the page is rendered
    for candidate in (image, image.get("/SMask"), image.get("/Mask")):
        if not isinstance(candidate, pikepdf.Stream):
            continue
        width, height = _number(candidate.get("/Width")), _number(candidate.get("/Height"))
        if width is None or height is None or width < 0 or height < 0:
            raise RejectedFile(_MSG_PDF_DAMAGED, filename=filename)
        pixels = width * height
        if pixels > limits.max_pixels:
            raise RejectedFile(
                f"La página {number} del PDF contiene una imagen demasiado grande: "
                f"{_megapixels(pixels)} megapíxeles; el máximo es {_megapixels(limits.max_pixels)}.",
                filename=filename,
            )


def _is_signed(pdf: pikepdf.Pdf) -> bool:
    """Whether the PDF carries a digital signature.

    ``/SigFlags`` bit 1 ("SignaturesExist") counts too, because OCRmyPDF refuses input on that
    flag alone; the routing of a filing must agree with what OCR will do with it.
    """
    acroform = pdf.Root.get("/AcroForm")
    if not isinstance(acroform, pikepdf.Dictionary):
        return False
    sig_flags = _number(acroform.get("/SigFlags", 0))
    if sig_flags is not None and int(sig_flags) & 1:
        return True
    fields = acroform.get("/Fields")
    if not isinstance(fields, pikepdf.Array):
        return False
    return any(_has_signature_value(field, None, 0, set()) for field in fields)


def _has_signature_value(
    field: pikepdf.Object, inherited_type: pikepdf.Object | None, depth: int, seen: set[tuple[int, int]]
) -> bool:
    if depth > _MAX_FIELD_DEPTH or not isinstance(field, pikepdf.Dictionary) or not _first_visit(field, seen):
        return False
    # /FT is inheritable from the parent field (ISO 32000-1, table 220)
    field_type = field.get("/FT", inherited_type)
    if field_type == pikepdf.Name.Sig and isinstance(field.get("/V"), pikepdf.Dictionary):
        return True
    kids = field.get("/Kids")
    if not isinstance(kids, pikepdf.Array):
        return False
    return any(_has_signature_value(kid, field_type, depth + 1, seen) for kid in kids)


def _inherited(page: pikepdf.Dictionary, key: str) -> pikepdf.Object | None:
    """Look up an inheritable page attribute, walking /Parent with loop protection."""
    node: pikepdf.Object | None = page
    seen: set[tuple[int, int]] = set()
    for _ in range(_MAX_PARENT_DEPTH):
        if not isinstance(node, pikepdf.Dictionary) or not _first_visit(node, seen):
            return None
        value = node.get(key)
        if value is not None:
            return value
        node = node.get("/Parent")
    return None


def _first_visit(obj: pikepdf.Object, seen: set[tuple[int, int]]) -> bool:
    """Record an indirect object as visited; direct objects cannot form loops and always pass."""
    objgen = obj.objgen
    if objgen == (0, 0):
        return True
    if objgen in seen:
        return False
    seen.add(objgen)
    return True


def _number(value: object) -> float | None:
    """A finite PDF number as a float, or ``None`` for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


# --- Images -------------------------------------------------------------------------------------


def _inspect_image(data: bytes, filename: str, kind: str, limits: UploadLimits) -> InspectedFile:
    content_type, extension, pillow_format = _IMAGE_TYPES[kind]
    frames = 0
    with _quiet_warnings("Pillow"):
        try:
            # formats= keeps Pillow from trying every other plugin on content we already typed
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                # count frames by seeking, not with n_frames, so a chain of IFDs is bounded too
                while True:
                    try:
                        image.seek(frames)
                    except EOFError:
                        break
                    frames += 1
                    if frames > limits.max_pages:
                        raise RejectedFile(
                            f"La imagen tiene más de {limits.max_pages} páginas; "
                            f"el máximo es {limits.max_pages}.",
                            filename=filename,
                        )
                    width, height = image.size
                    # our own cap, checked before load(): Image.MAX_IMAGE_PIXELS is a process-wide
                    # setting others may change, and its default (179 Mpx) is far too generous
                    if width * height > limits.max_pixels:
                        raise _image_too_large(width * height, filename, limits)
                    image.load()
        except Image.DecompressionBombError as e:
            # Pillow's own ceiling fired in open() or seek(), before our check could run
            raise RejectedFile(
                f"La imagen es demasiado grande; el máximo es {_megapixels(limits.max_pixels)} megapíxeles.",
                filename=filename,
            ) from e
        except UnidentifiedImageError as e:
            raise RejectedFile(_MSG_IMAGE_DAMAGED, filename=filename) from e
        except _PILLOW_ERRORS as e:
            logger.info("Image refused, %r: %s: %s", filename, type(e).__name__, e)
            raise RejectedFile(_MSG_IMAGE_DAMAGED, filename=filename) from e
    return InspectedFile(
        kind=kind,
        content_type=content_type,
        pages=frames,
        size=len(data),
        extension=extension,
        has_text=False,
        signed=False,
    )


def _image_too_large(pixels: int, filename: str, limits: UploadLimits) -> RejectedFile:
    return RejectedFile(
        f"La imagen es demasiado grande: {_megapixels(pixels)} megapíxeles; "
        f"el máximo es {_megapixels(limits.max_pixels)}.",
        filename=filename,
    )


# --- Helpers ------------------------------------------------------------------------------------


@contextmanager
def _quiet_warnings(library: str) -> Iterator[None]:
    """Turn the library's warnings about a hostile file into log lines.

    Warnings here describe the uploaded file (Pillow's DecompressionBombWarning, "Corrupt EXIF
    data"...), not our code, and the verdict comes from exceptions and our own limits. Under
    ``filterwarnings = error`` they would otherwise become exceptions nobody translates.
    :func:`warnings.catch_warnings` swaps process-wide state and is not thread-safe before
    Python 3.14: with threaded workers, a warning raised by another thread meanwhile is logged
    here instead of reaching its own filters.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        logger.debug("%s warning: %s: %s", library, warning.category.__name__, warning.message)


def _megabytes(size: int) -> str:
    return _decimal_text(size / (1024 * 1024))


def _megapixels(pixels: float) -> str:
    return _decimal_text(pixels / 1_000_000)


def _decimal_text(value: float) -> str:
    """Two decimals at most, trailing zeros dropped: ``40``, ``1.5``, ``0.04``."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
