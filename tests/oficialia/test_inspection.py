"""Tests for :mod:`oficialia.inspection`: pure unit tests, no Flask.

Good files are made here with reportlab, pikepdf and Pillow. Hostile files come from two places:
the permissively licensed ones (qpdf, Pillow) are copied under ``tests/data/hostile/`` (see its
MANIFEST.md); the others are read in place from ``../shared/external-data`` by tests marked
``corpus``. Every hostile file is inspected in a child process under a 2 GiB address-space cap and
a 30 s timeout, so a hang, a crash or a memory blow-up fails one test instead of the whole run.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from oficialia.errors import FileTooLarge, RejectedFile, UnsupportedFileType
from oficialia.inspection import UploadLimits, inspect_upload

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTILE = REPO_ROOT / "tests" / "data" / "hostile"
EXTERNAL_DATA = REPO_ROOT.parent / "shared" / "external-data"

MEMORY_LIMIT = 2 * 1024**3
CHILD_TIMEOUT = 30


# --- Factories ----------------------------------------------------------------------------------


def make_text_pdf(pages: int = 1) -> bytes:
    """A reportlab PDF with one line of text (and so a /Font) per page."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4)
    for number in range(1, pages + 1):
        document.drawString(72, 720, f"Oficio número {number}: solicitud de información pública.")
        document.showPage()
    document.save()
    return buffer.getvalue()


def make_pdf(edit: Any = None, *, pages: int = 1, encryption: pikepdf.Encryption | None = None) -> bytes:
    """A pikepdf PDF with blank letter pages; ``edit(pdf)`` may tamper with it before saving."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(612, 792))
    if edit is not None:
        edit(pdf)
    buffer = io.BytesIO()
    pdf.save(buffer, encryption=encryption or False)
    return buffer.getvalue()


def make_image(fmt: str, size: tuple[int, int] = (64, 48), frames: int = 1) -> bytes:
    images = [Image.new("RGB", size, (40 * i % 255, 120, 200)) for i in range(frames)]
    buffer = io.BytesIO()
    if frames > 1:
        images[0].save(buffer, fmt, save_all=True, append_images=images[1:])
    else:
        images[0].save(buffer, fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixel data: enough for Pillow's open()."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def add_image_xobject(pdf: pikepdf.Pdf, target: pikepdf.Object, width: int, height: int) -> None:
    """Put a Flate image that is NOT valid zlib on ``target``: decoding it would raise."""
    image = pdf.make_stream(
        b"not zlib data",
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width,
        Height=height,
        ColorSpace=pikepdf.Name.DeviceGray,
        BitsPerComponent=8,
        Filter=pikepdf.Name.FlateDecode,
    )
    target.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))


def refused(data: bytes, limits: UploadLimits | None = None, filename: str = "archivo") -> RejectedFile:
    with pytest.raises(RejectedFile) as excinfo:
        inspect_upload(data, filename, limits or UploadLimits())
    return excinfo.value


# --- Accepted files -----------------------------------------------------------------------------


@pytest.mark.parametrize("pages", [1, 3])
def test_text_pdf_is_accepted(pages: int) -> None:
    data = make_text_pdf(pages)

    result = inspect_upload(data, "oficio.pdf")

    assert (result.kind, result.content_type, result.extension) == ("pdf", "application/pdf", ".pdf")
    assert result.pages == pages
    assert result.size == len(data)
    assert result.has_text is True
    assert result.signed is False


def test_blank_pdf_has_no_text() -> None:
    assert inspect_upload(make_pdf(), "escaneo.pdf").has_text is False


@pytest.mark.parametrize(
    ("fmt", "kind", "content_type", "extension", "frames"),
    [
        ("JPEG", "jpeg", "image/jpeg", ".jpg", 1),
        ("PNG", "png", "image/png", ".png", 1),
        ("TIFF", "tiff", "image/tiff", ".tif", 1),
        ("TIFF", "tiff", "image/tiff", ".tif", 3),
    ],
)
def test_images_are_accepted(fmt: str, kind: str, content_type: str, extension: str, frames: int) -> None:
    data = make_image(fmt, frames=frames)

    result = inspect_upload(data, "foto")

    assert (result.kind, result.content_type, result.extension) == (kind, content_type, extension)
    assert result.pages == frames
    assert (result.has_text, result.signed) == (False, False)


def test_type_comes_from_content_not_from_name() -> None:
    png_named_pdf = inspect_upload(make_image("PNG"), "oficio.pdf")
    pdf_named_jpg = inspect_upload(make_text_pdf(), "foto.jpg")

    assert (png_named_pdf.kind, png_named_pdf.extension) == ("png", ".png")
    assert (pdf_named_jpg.kind, pdf_named_jpg.extension) == ("pdf", ".pdf")


def test_pdf_header_may_follow_leading_junk() -> None:
    assert inspect_upload(b"\x00" * 300 + make_text_pdf(), "oficio.pdf").kind == "pdf"


def test_mediabox_may_be_inherited_from_the_page_tree() -> None:
    def inherit(pdf: pikepdf.Pdf) -> None:
        del pdf.pages[0].obj["/MediaBox"]
        pdf.Root.Pages.MediaBox = pikepdf.Array([0, 0, 612, 1008])

    assert inspect_upload(make_pdf(inherit), "oficio.pdf").pages == 1


def test_streams_are_never_decoded() -> None:
    """A broken Flate content stream and a broken Flate image pass: inspection reads dictionaries only."""

    def broken_streams(pdf: pikepdf.Pdf) -> None:
        page = pdf.pages[0].obj
        page.Contents = pdf.make_stream(b"garbage, not zlib", Filter=pikepdf.Name.FlateDecode)
        add_image_xobject(pdf, page, 2480, 3508)

    assert inspect_upload(make_pdf(broken_streams), "escaneo.pdf").pages == 1


# --- Signatures ---------------------------------------------------------------------------------


def _signature_value(pdf: pikepdf.Pdf) -> pikepdf.Object:
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Sig,
            Filter=pikepdf.Name("/Adobe.PPKLite"),
            SubFilter=pikepdf.Name("/ETSI.CAdES.detached"),
            ByteRange=pikepdf.Array([0, 0, 0, 0]),
            Contents=pikepdf.String(b"\x00" * 32),
        )
    )


def _with_fields(make_fields: Any, sig_flags: int | None = None) -> Any:
    def edit(pdf: pikepdf.Pdf) -> None:
        acroform = pikepdf.Dictionary(Fields=pikepdf.Array(make_fields(pdf)))
        if sig_flags is not None:
            acroform.SigFlags = sig_flags
        pdf.Root.AcroForm = pdf.make_indirect(acroform)

    return edit


def test_signature_field_with_value_is_signed() -> None:
    def fields(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        return [
            pdf.make_indirect(pikepdf.Dictionary(FT=pikepdf.Name.Sig, T="Firma1", V=_signature_value(pdf)))
        ]

    assert inspect_upload(make_pdf(_with_fields(fields)), "firmado.pdf").signed is True


def test_signature_type_is_inherited_by_kids() -> None:
    def fields(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        parent = pdf.make_indirect(pikepdf.Dictionary(FT=pikepdf.Name.Sig, T="Firmas"))
        kid = pdf.make_indirect(pikepdf.Dictionary(Parent=parent, T="1", V=_signature_value(pdf)))
        parent.Kids = pikepdf.Array([kid])
        return [parent]

    assert inspect_upload(make_pdf(_with_fields(fields)), "firmado.pdf").signed is True


def test_sigflags_alone_counts_as_signed() -> None:
    """OCRmyPDF refuses input on /SigFlags bit 1 alone, so inspection agrees with it."""
    assert inspect_upload(make_pdf(_with_fields(lambda pdf: [], sig_flags=3)), "firmado.pdf").signed is True


def test_empty_signature_field_is_not_signed() -> None:
    def fields(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        return [pdf.make_indirect(pikepdf.Dictionary(FT=pikepdf.Name.Sig, T="Firma1"))]

    assert inspect_upload(make_pdf(_with_fields(fields, sig_flags=0)), "formulario.pdf").signed is False


def test_field_kids_loop_terminates() -> None:
    def fields(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        field = pdf.make_indirect(pikepdf.Dictionary(FT=pikepdf.Name.Sig, T="Bucle"))
        field.Kids = pikepdf.Array([field])
        return [field]

    assert inspect_upload(make_pdf(_with_fields(fields)), "bucle.pdf").signed is False


# --- Refused files ------------------------------------------------------------------------------


def test_empty_file_is_refused() -> None:
    error = refused(b"", filename="oficio.pdf")

    assert type(error) is RejectedFile
    assert error.message == "«oficio.pdf»: El archivo está vacío."


def test_too_large_file_is_refused_before_anything_else() -> None:
    with pytest.raises(FileTooLarge) as excinfo:
        inspect_upload(b"x" * (3 * 1024 * 1024 // 2), "tomo.pdf", UploadLimits(max_file_bytes=1024 * 1024))

    assert excinfo.value.http_status == 413
    assert "1.5 MB; el máximo es 1 MB" in excinfo.value.message


@pytest.mark.parametrize(
    "data",
    [b"hello", b"PK\x03\x04 docx", make_image("GIF"), make_image("BMP"), b"\x00" * 1100 + b"%PDF-1.7\n"],
    ids=["text", "zip", "gif", "bmp", "header-too-late"],
)
def test_unsupported_types_are_refused(data: bytes) -> None:
    with pytest.raises(UnsupportedFileType) as excinfo:
        inspect_upload(data, "anexo.pdf")

    assert excinfo.value.http_status == 415
    assert "solo se aceptan PDF, JPEG, PNG y TIFF" in excinfo.value.message


@pytest.mark.parametrize("user_password", ["usuario", ""], ids=["password", "empty-user-password"])
def test_encrypted_pdf_is_refused(user_password: str) -> None:
    data = make_pdf(encryption=pikepdf.Encryption(owner="propietario", user=user_password))

    assert "protegido con contraseña o cifrado" in refused(data).message


def test_damaged_pdf_is_refused_with_the_cause_chained() -> None:
    error = refused(b"%PDF-1.7\n" + b"\x00garbage" * 50)

    assert error.message.endswith("El PDF está dañado o no es un PDF válido.")
    assert isinstance(error.__cause__, pikepdf.PdfError)


def test_pdf_without_pages_is_refused() -> None:
    assert refused(make_pdf(pages=0)).message.endswith("El PDF no tiene páginas.")


def test_too_many_pages_are_refused() -> None:
    error = refused(make_text_pdf(3), UploadLimits(max_pages=2))

    assert "3 páginas; el máximo es 2" in error.message


@pytest.mark.parametrize(
    ("mediabox", "user_unit", "expected"),
    [
        ([0, 0, 15000, 100], None, "el máximo por lado es 200 pulgadas"),
        ([0, 0, 612, 792], 100, "el máximo por lado es 200 pulgadas"),
        ([0, 0, 0, 0], None, "tamaño no válido"),
        ([0, 0, 612, 792], 0, "tamaño no válido"),
    ],
    ids=["too-wide", "user-unit", "zero-area", "zero-user-unit"],
)
def test_bad_page_sizes_are_refused(mediabox: list[Any], user_unit: int | None, expected: str) -> None:
    def resize(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.MediaBox = pikepdf.Array(mediabox)
        if user_unit is not None:
            pdf.pages[0].obj.UserUnit = user_unit

    assert expected in refused(make_pdf(resize)).message


@pytest.mark.parametrize(
    "mediabox", [None, [0, 0, 612], [0, 0, pikepdf.Name.Infinity, 792]], ids=["missing", "short", "name"]
)
def test_unusable_mediabox_is_repaired_by_qpdf(mediabox: list[Any] | None) -> None:
    """qpdf 12 replaces a missing or malformed /MediaBox with US Letter while loading the page tree."""

    def spoil(pdf: pikepdf.Pdf) -> None:
        if mediabox is None:
            del pdf.pages[0].obj["/MediaBox"]
        else:
            pdf.pages[0].obj.MediaBox = pikepdf.Array(mediabox)

    assert inspect_upload(make_pdf(spoil), "oficio.pdf").pages == 1


def test_oversized_pdf_image_is_refused_without_decoding() -> None:
    """50 000 × 50 000 declared pixels behind 13 bytes of invalid Flate data."""
    error = refused(make_pdf(lambda pdf: add_image_xobject(pdf, pdf.pages[0].obj, 50_000, 50_000)))

    assert "La página 1 del PDF contiene una imagen demasiado grande: 2500 megapíxeles" in error.message


def test_oversized_image_inside_a_form_xobject_is_refused() -> None:
    def nested(pdf: pikepdf.Pdf) -> None:
        form = pdf.make_stream(b"/Im0 Do", Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form)
        form.BBox = pikepdf.Array([0, 0, 612, 792])
        add_image_xobject(pdf, form, 10_000, 10_000)
        pdf.pages[1].obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm0=form))

    assert "La página 2 del PDF" in refused(make_pdf(nested, pages=2)).message


def test_form_xobject_loop_terminates() -> None:
    def loop(pdf: pikepdf.Pdf) -> None:
        form = pdf.make_stream(b"/Fm0 Do", Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form)
        form.Resources = pdf.make_indirect(pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm0=form)))
        pdf.pages[0].obj.Resources = form.Resources

    assert inspect_upload(make_pdf(loop), "bucle.pdf").pages == 1


def test_oversized_image_is_refused_before_decoding() -> None:
    error = refused(png_header_only(10_000, 5_000), filename="plano.png")

    assert error.message == "«plano.png»: La imagen es demasiado grande: 50 megapíxeles; el máximo es 40."


def test_pillow_bomb_warning_does_not_escape() -> None:
    """100 Mpx trips Pillow's DecompressionBombWarning in open(); it must not leak as an error."""
    assert "100 megapíxeles" in refused(png_header_only(10_000, 10_000)).message


def test_pillow_bomb_error_becomes_a_refusal() -> None:
    error = refused(png_header_only(20_000, 20_000))

    assert "demasiado grande" in error.message
    assert isinstance(error.__cause__, Image.DecompressionBombError)


def test_oversized_tiff_frame_is_refused() -> None:
    small, large = Image.new("L", (10, 10)), Image.new("L", (200, 200))
    buffer = io.BytesIO()
    small.save(buffer, "TIFF", save_all=True, append_images=[large])

    error = refused(buffer.getvalue(), UploadLimits(max_pixels=10_000))

    assert "0.04 megapíxeles; el máximo es 0.01" in error.message


def test_too_many_frames_are_refused() -> None:
    error = refused(make_image("TIFF", frames=3), UploadLimits(max_pages=2))

    assert "más de 2 páginas" in error.message


def test_truncated_jpeg_is_refused() -> None:
    data = make_image("JPEG", size=(640, 480))

    error = refused(data[: len(data) // 2], filename="foto.jpg")

    assert error.message == "«foto.jpg»: La imagen está dañada o incompleta."
    assert isinstance(error.__cause__, OSError)


# --- Hostile files, each in its own capped child process ----------------------------------------

_CHILD = """
import gzip, hashlib, json, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from oficialia.errors import RejectedFile
from oficialia.inspection import inspect_upload
path = sys.argv[1]
with open(path, "rb") as f:
    data = f.read()
if path.endswith(".gz"):
    data = gzip.decompress(data)
name = path.rsplit("/", 1)[-1].removesuffix(".gz")

def verdict(payload):
    try:
        found = inspect_upload(payload, name)
    except RejectedFile as e:
        return {"verdict": "refused", "error": type(e).__name__, "message": e.message}
    return {"verdict": "accepted", "kind": found.kind, "pages": found.pages}

result = verdict(data)
result["sha256"] = hashlib.sha256(data).hexdigest()
result["sha1"] = hashlib.sha1(data, usedforsecurity=False).hexdigest()
if name.endswith(".pdf") and b"%PDF-" not in data[:1024]:
    # also drive the parser fuzz cases through pikepdf, past the magic-byte gate
    result["as_pdf"] = verdict(b"%PDF-1.7\\n" + data)
print(json.dumps(result))
"""


def inspect_isolated(path: Path) -> dict[str, Any]:
    """Inspect ``path`` in a child with a 2 GiB address-space cap; any warning there is an error."""
    try:
        child = subprocess.run(
            [sys.executable, "-W", "error", "-c", _CHILD, str(path), str(MEMORY_LIMIT)],
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name}: inspection did not finish within {CHILD_TIMEOUT} s")
    stderr = child.stderr.decode(errors="replace")[-3000:]
    assert child.returncode == 0, f"{path.name}: child exited {child.returncode}\n{stderr}"
    result: dict[str, Any] = json.loads(child.stdout.decode().splitlines()[-1])
    if "as_pdf" in result:
        assert result["as_pdf"]["verdict"] in ("accepted", "refused")
    return result


def check_verdict(result: dict[str, Any], expected: str | None, error: str | None) -> None:
    """``expected`` None: either verdict is fine (the file only has to terminate within budget)."""
    assert result["verdict"] in ("accepted", "refused")
    if expected is not None:
        assert result["verdict"] == expected, result
    if error is not None:
        assert result["error"] == error, result


REFUSED, ACCEPTED, EITHER = "refused", "accepted", None
UNSUPPORTED, DAMAGED = "UnsupportedFileType", "RejectedFile"

#: copied files: (folder/file, verdict, error class); from tests/data/hostile/MANIFEST.md
COPIED_CASES = [
    ("qpdf/bad1.pdf", REFUSED, UNSUPPORTED),
    ("qpdf/issue-100.pdf", REFUSED, DAMAGED),  # qpdf exit 2
    ("qpdf/issue-117.pdf", EITHER, None),  # qpdf exit 3: repaired with warnings
    ("qpdf/issue-143.pdf", REFUSED, None),
    ("qpdf/issue-146.pdf", REFUSED, None),
    ("qpdf/issue-147.pdf", REFUSED, None),
    ("qpdf/issue-149.pdf", EITHER, None),
    ("qpdf/issue-150.pdf", REFUSED, None),
    ("qpdf/issue-202.pdf", EITHER, None),
    ("qpdf/issue-263.pdf", REFUSED, None),
    ("qpdf/issue-335b.pdf", REFUSED, None),
    ("pillow/broken.png", REFUSED, DAMAGED),
    ("pillow/truncated_image.png", REFUSED, DAMAGED),
    ("pillow/png_decompression_dos.png", REFUSED, DAMAGED),
    ("pillow/crash-0c7e0e8e11ce787078f00b5b0ca409a167f070e0.tif", REFUSED, DAMAGED),
    ("pillow/crash-86214e58da443d2b80820cff9677a38a33dcbbca.tif", REFUSED, DAMAGED),
    ("pillow/oom-225817ca0f8c663be7ab4b9e717b02c661e66834.tif", REFUSED, DAMAGED),
    ("pillow/tiff_overflow_rows_per_strip.tif", REFUSED, DAMAGED),
    ("pillow/decompression_bomb.gif", REFUSED, UNSUPPORTED),
    ("pillow/decompression_bomb_extents.gif", REFUSED, UNSUPPORTED),
    ("pillow/decompression_bomb.ico", REFUSED, UNSUPPORTED),
    ("pillow/hopper.png", ACCEPTED, None),
]

#: read in place from ../shared/external-data (no stated licence, or CC-BY-SA)
CORPUS_CASES = [
    ("corkami-pocs/mini1.pdf", ACCEPTED, None),
    ("corkami-pocs/mini2.pdf", ACCEPTED, None),
    ("corkami-pocs/signature-null.pdf", REFUSED, DAMAGED),
    ("corkami-pocs/signature-shorter.pdf", EITHER, None),  # "clear error or repaired"
    ("rub-nds-pdf101/A1-array-reference-loop.pdf", EITHER, None),
    ("rub-nds-pdf101/A2-dict-reference-loop.pdf", EITHER, None),
    ("rub-nds-pdf101/A3-pages-tree-loop-simple.pdf", REFUSED, DAMAGED),
    ("rub-nds-pdf101/A4-pages-tree-loop-complex.pdf", REFUSED, DAMAGED),
    ("rub-nds-pdf101/E2-next-outline-loop-depth.pdf", EITHER, None),
    ("rub-nds-pdf101/F1-objstm-extends.pdf", EITHER, None),
    ("rub-nds-pdf101/G1-js-cpu-exhaust-loop.pdf", EITHER, None),
    ("rub-nds-pdf101/deflate-bomb-10GB.pdf.gz", EITHER, None),
    ("rub-nds-pdf101/deflate-bomb-10GB-xref.pdf.gz", REFUSED, DAMAGED),
    ("rub-nds-pdf101/deflate-bomb-trivial-10GB.pdf.gz", EITHER, None),
    ("ocrmypdf/invalid.pdf", REFUSED, DAMAGED),
    ("ocrmypdf/hugemono.pdf", REFUSED, DAMAGED),
    ("ocrmypdf/enormous.pdf", REFUSED, DAMAGED),
    ("ocrmypdf/c02-22.pdf", ACCEPTED, None),
    ("ocrmypdf/francais.pdf", ACCEPTED, None),
    ("ocrmypdf/skew.pdf", ACCEPTED, None),
    ("ocrmypdf/rotated_skew.pdf", ACCEPTED, None),
    ("ocrmypdf/linn.png", ACCEPTED, None),
    ("ocrmypdf/typewriter.png", ACCEPTED, None),
    ("ocrmypdf/baiona.png", ACCEPTED, None),
]


def _listed(root: Path, folders: set[str]) -> set[str]:
    return {
        f"{path.parent.name}/{path.name}"
        for folder in folders
        for path in (root / folder).iterdir()
        if path.name != "MANIFEST.md" and path.suffix != ".txt"
    }


def _ids(cases: list[tuple[str, str | None, str | None]]) -> list[str]:
    return [case[0] for case in cases]


@pytest.fixture(scope="session")
def external_data() -> Path:
    if not EXTERNAL_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{EXTERNAL_DATA} is missing; under CI=true corpus tests may not be skipped")
        pytest.skip(f"{EXTERNAL_DATA} is absent (third-party corpus, not shipped with the repository)")
    return EXTERNAL_DATA


def test_copied_cases_cover_every_copied_file() -> None:
    assert _listed(HOSTILE, {"qpdf", "pillow"}) == set(_ids(COPIED_CASES))


@pytest.mark.parametrize(("name", "expected", "error"), COPIED_CASES, ids=_ids(COPIED_CASES))
def test_copied_hostile_file(name: str, expected: str | None, error: str | None) -> None:
    check_verdict(inspect_isolated(HOSTILE / name), expected, error)


@pytest.mark.corpus
def test_corpus_cases_cover_every_corpus_file(external_data: Path) -> None:
    folders = {name.split("/")[0] for name in _ids(CORPUS_CASES)}

    assert _listed(external_data, folders) == set(_ids(CORPUS_CASES))


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "expected", "error"), CORPUS_CASES, ids=_ids(CORPUS_CASES))
def test_corpus_hostile_file(external_data: Path, name: str, expected: str | None, error: str | None) -> None:
    check_verdict(inspect_isolated(external_data / name), expected, error)


@pytest.mark.corpus
def test_sha1_colliding_pdfs_are_told_apart_by_sha256(external_data: Path) -> None:
    first = inspect_isolated(external_data / "corkami-pocs" / "mini1.pdf")
    second = inspect_isolated(external_data / "corkami-pocs" / "mini2.pdf")

    assert first["verdict"] == second["verdict"] == ACCEPTED
    assert first["sha1"] == second["sha1"]
    assert first["sha256"] != second["sha256"]
