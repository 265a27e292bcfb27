"""The OCR engine on real Tesseract: accuracy on scans with ground truth, PDF/A output, signed and
born-digital PDFs left alone, progress, and the limits (time, memory, pixel bombs, damage).

Accuracy is the character error rate (CER): Levenshtein distance between the whitespace-normalised
OCR text and the whitespace-normalised ground truth, divided by the length of the ground truth.
The Tesseract samples (Apache-2.0) are copied under ``tests/data/ocr``; the OCRmyPDF samples
(CC-BY-SA, GFDL) are read in place from ``../shared/external-data`` (marker ``corpus``).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import img2pdf
import pikepdf
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from reportlab.pdfgen import canvas

from oficialia import ocr
from oficialia.ocr import FakeOcrEngine, OcrFailed, OcrmypdfEngine, OcrOptions, OcrResult

DATA = Path(__file__).resolve().parents[1] / "data" / "ocr"
EXTERNAL = Path(__file__).resolve().parents[2].parent / "shared" / "external-data"
IN_CI = os.environ.get("CI") == "true"
SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")

#: the Spanish sentence of eurotext.txt, which spans three lines there
SPANISH_LINE = "El zorro marrón rápido salta sobre el perro perezoso."

SCAN_TEXT = (
    "Oficio número 1234/2025. Asunto: solicitud de información pública sobre el ejercicio del "
    "presupuesto asignado a la Dirección de Obras en el año fiscal anterior.",
    "Por medio del presente me dirijo a usted para solicitar, con fundamento en el artículo "
    "octavo constitucional, una copia certificada del acta de la sesión ordinaria.",
    "Sin otro particular, agradezco de antemano la atención que se sirva dar a la presente y "
    "quedo a sus órdenes para cualquier aclaración. Atentamente, el peticionario.",
)


# --- Measure ------------------------------------------------------------------------------------


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each).

    Myers' bit-parallel algorithm in Hyyrö's formulation: one pass over ``b`` with ``a`` held in
    the bits of Python integers, so a 4,500-character page takes milliseconds, not seconds.
    """
    if not a:
        return len(b)
    if not b:
        return len(a)
    masks: dict[str, int] = {}
    for i, char in enumerate(a):
        masks[char] = masks.get(char, 0) | (1 << i)
    all_ones = (1 << len(a)) - 1
    last = 1 << (len(a) - 1)
    positive, negative, score = all_ones, 0, len(a)
    for char in b:
        eq = masks.get(char, 0)
        xv = eq | negative
        xh = (((eq & positive) + positive) ^ positive) | eq
        horizontal_up = negative | ~(xh | positive)
        horizontal_down = positive & xh
        if horizontal_up & last:
            score += 1
        elif horizontal_down & last:
            score -= 1
        horizontal_up = (horizontal_up << 1) | 1
        horizontal_down <<= 1
        positive = (horizontal_down | ~(xv | horizontal_up)) & all_ones
        negative = horizontal_up & xv & all_ones
    return score


def normalised(text: str) -> str:
    return " ".join(text.split())


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate over whitespace-normalised text."""
    truth = normalised(reference)
    return levenshtein(normalised(hypothesis), truth) / len(truth)


def _simple_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_levenshtein_agrees_with_the_textbook_algorithm() -> None:
    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("abcñ ") for _ in range(rng.randrange(0, 90)))
        b = "".join(rng.choice("abcñ ") for _ in range(rng.randrange(0, 90)))
        assert levenshtein(a, b) == _simple_levenshtein(a, b), (a, b)
    assert levenshtein("kitten", "sitting") == 3
    assert cer("El  zorro\nmarrón", "El zorro marron") == pytest.approx(1 / 15)


# --- Inputs -------------------------------------------------------------------------------------


def corpus_file(*parts: str) -> Path:
    """A third-party file read in place; skipped only outside CI when the folder is absent."""
    if not EXTERNAL.is_dir():
        if IN_CI:
            pytest.fail(f"{EXTERNAL} is missing")
        pytest.skip(f"{EXTERNAL} is missing")
    return EXTERNAL.joinpath(*parts)


def noisy_scan_page(text: str, angle: float, seed: int) -> bytes:
    """A 300 dpi "scan" (6 × 4 in) of a Spanish paragraph: blurred, skewed, noisy, specks; JPEG."""
    rng = random.Random(seed)
    page = Image.new("L", (1800, 1200), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(SERIF), 40)
    for number, line in enumerate(textwrap.wrap(text, 60)):
        draw.text((120, 150 + 62 * number), line, font=font, fill=0)
    page = page.filter(ImageFilter.GaussianBlur(0.7)).rotate(angle, fillcolor=255, resample=Image.Resampling.BICUBIC)
    page = ImageChops.add(page, Image.effect_noise(page.size, 18), 1.0, -128)
    pixels = page.load()
    assert pixels is not None
    for _ in range(1500):
        pixels[rng.randrange(page.width), rng.randrange(page.height)] = rng.choice((0, 255))
    out = io.BytesIO()
    page.save(out, format="JPEG", quality=85, dpi=(300, 300))
    return out.getvalue()


@pytest.fixture(scope="module")
def scan3() -> bytes:
    """A three-page scanned letter, one paragraph a page, each page skewed differently."""
    angles = (0.8, -1.5, 1.2)
    pairs = zip(SCAN_TEXT, angles, strict=True)
    pages = [noisy_scan_page(text, angle, seed) for seed, (text, angle) in enumerate(pairs)]
    return bytes(img2pdf.convert(pages))


def text_page_pdf(lines: list[str], pages: int = 1) -> bytes:
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=(612, 792))
    for _ in range(pages):
        drawing.setFont("Helvetica", 14)
        for number, line in enumerate(lines):
            drawing.drawString(72, 700 - 20 * number, line)
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def merge(*pdfs: bytes) -> bytes:
    merged = pikepdf.new()
    sources = [pikepdf.open(io.BytesIO(data)) for data in pdfs]
    for source in sources:
        merged.pages.extend(source.pages)
    out = io.BytesIO()
    merged.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def engine() -> OcrmypdfEngine:
    return OcrmypdfEngine(OcrOptions())


@pytest.fixture(scope="module")
def ocr_once(engine: OcrmypdfEngine) -> Callable[[Path, str], tuple[OcrResult, float]]:
    """OCR a file once per module, whatever the number of tests that look at the result."""
    cache: dict[Path, tuple[OcrResult, float]] = {}

    def run(path: Path, kind: str) -> tuple[OcrResult, float]:
        if path not in cache:
            started = time.monotonic()
            result = engine.process(path.read_bytes(), kind)
            cache[path] = (result, time.monotonic() - started)
        return cache[path]

    return run


def session_processes(session_id: int) -> list[str]:
    """Live (not zombie) processes of a session, as ``pid state command`` lines."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            content = stat.read_text()
        except OSError:
            continue
        # the command sits in parentheses and may itself contain spaces or parentheses
        command, _, rest = content.partition(" (")[2].rpartition(") ")
        fields = rest.split()
        if len(fields) > 3 and int(fields[3]) == session_id and fields[0] != "Z":
            found.append(f"{stat.parent.name} {fields[0]} {command}")
    return found


# --- Accuracy -----------------------------------------------------------------------------------


@pytest.mark.ocr
@pytest.mark.parametrize(
    ("sample", "truth", "limit"),
    [
        ("phototest.png", "phototest.txt", 0.005),
        ("eurotext.png", "eurotext.txt", 0.02),
        ("phototest-rotated-180.png", "phototest.txt", 0.05),
        ("eurotest-skewed.png", "eurotext.txt", 0.05),
    ],
)
def test_tesseract_samples_within_target(ocr_once, sample: str, truth: str, limit: float) -> None:
    result, _ = ocr_once(DATA / sample, "png")
    error = cer(result.text, (DATA / truth).read_text(encoding="utf-8"))
    assert error <= limit, f"{sample}: CER {error:.2%} > {limit:.1%}\n{result.text}"


@pytest.mark.ocr
@pytest.mark.parametrize("sample", ["eurotext.png", "eurotest-skewed.png"])
def test_spanish_sentence_is_read_exactly(ocr_once, sample: str) -> None:
    result, _ = ocr_once(DATA / sample, "png")
    assert SPANISH_LINE in normalised(result.text)


@pytest.mark.ocr
@pytest.mark.corpus
def test_linn_scan_within_two_percent(ocr_once) -> None:
    result, seconds = ocr_once(corpus_file("ocrmypdf", "linn.png"), "png")
    error = cer(result.text, corpus_file("ocrmypdf", "linn.txt").read_text(encoding="utf-8"))
    assert error <= 0.02, f"CER {error:.2%}"
    assert seconds < 60


@pytest.mark.ocr
@pytest.mark.corpus
@pytest.mark.parametrize("sample", ["skew.pdf", "rotated_skew.pdf"])
def test_skewed_and_rotated_linn_within_five_percent(ocr_once, sample: str) -> None:
    result, _ = ocr_once(corpus_file("ocrmypdf", sample), "pdf")
    error = cer(result.text, corpus_file("ocrmypdf", "linn.txt").read_text(encoding="utf-8"))
    assert error <= 0.05, f"{sample}: CER {error:.2%}"


# --- The derived copy ---------------------------------------------------------------------------


@pytest.mark.ocr
@pytest.mark.corpus
def test_scan_becomes_pdfa_2b_and_the_original_is_untouched(ocr_once) -> None:
    path = corpus_file("ocrmypdf", "linn.png")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result, _ = ocr_once(path, "png")
    assert result.ocr_applied and result.pdfa
    assert len(result.pages) == 1
    with pikepdf.open(io.BytesIO(result.pdf)) as pdf:
        assert pdf.open_metadata().pdfa_status == "2B"
        # linn.png declares no resolution: laid out at 300 dpi, 2550 × 3300 px is US letter
        assert [float(v) for v in pdf.pages[0].mediabox] == [0, 0, 612, 792]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.ocr
def test_text_pages_are_kept_and_only_image_pages_get_ocr(engine: OcrmypdfEngine) -> None:
    """GIVEN a born-digital page followed by a scanned page
    WHEN the PDF goes through OCR (skip_text)
    THEN the digital page keeps its text and fonts and is not rasterised; the scan gains text."""
    digital = text_page_pdf(["Oficio 77/2025: solicitud de copia certificada", "Atentamente, la directora"])
    scanned = images_to_pdf_bytes(DATA / "phototest.png")
    data = merge(digital, scanned)

    result = engine.process(data, "pdf")

    assert len(result.pages) == 2
    assert "Oficio 77/2025: solicitud de copia certificada" in result.pages[0]
    assert cer(result.pages[1], (DATA / "phototest.txt").read_text(encoding="utf-8")) <= 0.005
    with pikepdf.open(io.BytesIO(result.pdf)) as pdf:
        first = pdf.pages[0]
        assert list(first.get_images()) == []
        fonts = first.resources.get("/Font", {})
        assert any(font.get("/BaseFont") == "/Helvetica" for font in fonts.values())
        # what the result says about PDF/A is what the file declares
        assert result.pdfa == bool(pdf.open_metadata().pdfa_status)


def images_to_pdf_bytes(path: Path) -> bytes:
    return ocr.images_to_pdf(path.read_bytes())


@pytest.mark.ocr
def test_progress_counts_pages_up_to_the_total(engine: OcrmypdfEngine, scan3: bytes, child_pids: list[int]) -> None:
    events: list[tuple[int, int]] = []
    limits: list[str] = []

    def progress(done: int, total: int) -> None:
        events.append((done, total))
        if not limits:  # the child is alive while it reports
            limits.append(Path(f"/proc/{child_pids[0]}/limits").read_text())

    result = engine.process(scan3, "pdf", progress=progress)

    assert events, "no progress reported"
    [table] = limits
    address_space = next(line for line in table.splitlines() if line.startswith("Max address space"))
    assert address_space.split()[3:5] == [str(3072 * 1024 * 1024)] * 2
    core = next(line for line in table.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"]
    assert all(total == 3 for _, total in events)
    dones = [done for done, _ in events]
    assert dones == sorted(dones) and dones[-1] == 3
    for page, text in zip(result.pages, SCAN_TEXT, strict=True):
        assert cer(page, text) <= 0.02, page


# --- Signed PDFs --------------------------------------------------------------------------------


def test_signed_pdf_is_returned_as_it_is_without_running_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    data = text_page_pdf(["Documento firmado electrónicamente"], pages=2)

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("no OCR process may start for a signed PDF")

    monkeypatch.setattr(subprocess, "Popen", no_child)
    result = OcrmypdfEngine().process(data, "pdf", signed=True)

    assert result.pdf is data
    assert result.ocr_applied is False
    assert result.pages == ("Documento firmado electrónicamente",) * 2


@pytest.mark.ocr
def test_pdf_that_ocrmypdf_finds_signed_is_returned_as_it_is(engine: OcrmypdfEngine) -> None:
    """The caller said unsigned, but the AcroForm says SignaturesExist: OCRmyPDF refuses it."""
    with pikepdf.open(io.BytesIO(images_to_pdf_bytes(DATA / "phototest.png"))) as pdf:
        pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array(), SigFlags=3))
        out = io.BytesIO()
        pdf.save(out)
    data = out.getvalue()

    result = engine.process(data, "pdf")

    assert result.pdf == data
    assert result.ocr_applied is False


# --- Limits and failures ------------------------------------------------------------------------


@pytest.fixture
def child_pids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the OCR children started during the test."""
    pids: list[int] = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            pids.append(self.pid)

    monkeypatch.setattr(ocr.subprocess, "Popen", RecordingPopen)
    return pids


@pytest.mark.ocr
def test_timeout_kills_the_whole_job_and_leaves_nothing(
    scan3: bytes, child_pids: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = time.monotonic()

    with pytest.raises(OcrFailed) as caught:
        OcrmypdfEngine(OcrOptions(timeout_seconds=1)).process(scan3, "pdf")

    assert time.monotonic() - started < 5
    assert caught.value.message == "El OCR excedió el tiempo máximo (1 s)."
    assert caught.value.code == "ocr_failed"
    [pid] = child_pids
    deadline = time.monotonic() + 5
    while session_processes(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(pid) == []
    assert list(tmp_path.iterdir()) == []


def live_processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line contains ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().rpartition(") ")[2].split()[0]
        except (OSError, IndexError):
            continue
        if text in command and state != "Z":
            found.append(f"{cmdline.parent.name} {command}")
    return found


@pytest.mark.ocr
def test_ocr_stops_when_the_worker_dies(scan3: bytes, tmp_path: Path) -> None:
    """An RQ job timeout kills the work horse with SIGKILL; the OCR must not run on orphaned."""
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scan3)
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "import sys; from oficialia.ocr import OcrmypdfEngine; "
        "OcrmypdfEngine().process(open(sys.argv[1], 'rb').read(), 'pdf')"
    )
    root = str(Path(__file__).resolve().parents[2])
    worker = subprocess.Popen(
        [sys.executable, "-c", script, str(scan)], env={**os.environ, "TMPDIR": str(work), "PYTHONPATH": root}
    )
    def tesseract_running() -> bool:
        return any(" tesseract " in f" {line.split(' ', 1)[1]}" for line in live_processes_mentioning(str(work)))

    try:
        # kill the worker while Tesseract, a grandchild, is busy on a page
        deadline = time.monotonic() + 30
        while not tesseract_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tesseract_running(), "Tesseract never started"
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 5
    while live_processes_mentioning(str(work)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_processes_mentioning(str(work)) == []


def test_timeout_message_in_minutes() -> None:
    assert ocr.MSG_TIMEOUT.format(limit=ocr._duration(900)) == "El OCR excedió el tiempo máximo (15 min)."


@pytest.mark.ocr
def test_tiny_memory_limit_fails_cleanly() -> None:
    """Under 200 MiB of address space Tesseract fails on some pages; OCRmyPDF would only log it
    and write those pages without text, so the runner turns logged errors into a failure. A
    runner starved that hard may also hang (a thread waiting on a lock whose holder could not
    allocate): the time limit then kills it, which is a clean failure too."""
    timeout = 120
    with pytest.raises(OcrFailed) as caught:
        OcrmypdfEngine(OcrOptions(memory_mb=200, timeout_seconds=timeout)).process(heavy_scan(), "pdf")
    assert caught.value.message in {ocr.MSG_MEMORY, ocr.MSG_PAGE_ERRORS, ocr.MSG_CRASHED,
                                    ocr.MSG_TIMEOUT.format(limit=ocr._duration(timeout))}
    assert "Traceback" not in caught.value.message


def heavy_scan() -> bytes:
    """One A4 page at 600 dpi (35 Mpx): far more than 200 MiB to rasterise and recognise."""
    page = Image.new("L", (4960, 7016), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(SERIF), 90)
    for number, line in enumerate(textwrap.wrap(" ".join(SCAN_TEXT), 60)):
        draw.text((300, 400 + 140 * number), line, font=font, fill=0)
    out = io.BytesIO()
    page.save(out, format="JPEG", quality=80, dpi=(600, 600))
    return bytes(img2pdf.convert(out.getvalue()))


@pytest.mark.ocr
@pytest.mark.corpus
def test_pixel_bomb_fails_within_the_budget() -> None:
    """hugemono.pdf: a 35000 × 35000 JBIG2 image in 11.8 KB."""
    data = corpus_file("ocrmypdf", "hugemono.pdf").read_bytes()
    started = time.monotonic()
    with pytest.raises(OcrFailed) as caught:
        OcrmypdfEngine(OcrOptions(timeout_seconds=120)).process(data, "pdf")
    assert time.monotonic() - started < 120
    assert caught.value.message in {ocr.MSG_MEMORY, ocr.MSG_IMAGE_TOO_LARGE, ocr.MSG_PAGE_ERRORS}


@pytest.mark.ocr
@pytest.mark.corpus
def test_damaged_pdf_is_explained(engine: OcrmypdfEngine) -> None:
    with pytest.raises(OcrFailed) as caught:
        engine.process(corpus_file("ocrmypdf", "invalid.pdf").read_bytes(), "pdf")
    assert caught.value.message == "El PDF está dañado y no se pudo procesar."


@pytest.mark.ocr
def test_encrypted_pdf_is_explained(engine: OcrmypdfEngine) -> None:
    with pikepdf.open(io.BytesIO(text_page_pdf(["confidencial"]))) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(owner="dueño", user="clave"))
    with pytest.raises(OcrFailed) as caught:
        engine.process(out.getvalue(), "pdf")
    assert caught.value.message.startswith("El documento está cifrado")


@pytest.mark.ocr
def test_too_many_pages_is_explained(scan3: bytes) -> None:
    with pytest.raises(OcrFailed) as caught:
        OcrmypdfEngine(OcrOptions(max_pages=2)).process(scan3, "pdf")
    assert caught.value.message == "El documento tiene 3 páginas; el máximo para OCR es 2."


def test_missing_tesseract_is_an_installation_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither tesseract nor gs can be found
    with pytest.raises(OcrFailed) as caught:
        OcrmypdfEngine().process(images_to_pdf_bytes(DATA / "phototest.png"), "pdf")
    assert caught.value.message.startswith("El servicio de OCR no está instalado correctamente")


@pytest.mark.ocr
def test_unknown_language_is_an_installation_error() -> None:
    with pytest.raises(OcrFailed) as caught:
        OcrmypdfEngine(OcrOptions(languages="spa+xyz")).process(images_to_pdf_bytes(DATA / "phototest.png"), "pdf")
    assert caught.value.message.startswith("El servicio de OCR no está instalado correctamente")


# --- Images to PDF (no OCR) ---------------------------------------------------------------------


def _image_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return [(float(p.mediabox[2]) - float(p.mediabox[0]), float(p.mediabox[3]) - float(p.mediabox[1]))
                for p in document.pages]


def test_multipage_tiff_keeps_every_frame_as_a_page() -> None:
    frames = [Image.new("L", (600, 900), shade) for shade in (255, 200, 150)]
    data = _image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:], dpi=(300, 300))
    assert _page_sizes(ocr.images_to_pdf(data)) == [(144.0, 216.0)] * 3


def test_image_without_resolution_is_laid_out_at_300_dpi() -> None:
    data = _image_bytes(Image.new("L", (2550, 3300), 255), "PNG")
    assert _page_sizes(ocr.images_to_pdf(data)) == [(612.0, 792.0)]


def test_declared_resolution_is_kept() -> None:
    data = _image_bytes(Image.new("RGB", (1200, 1200), "white"), "JPEG", dpi=(200, 200))
    assert _page_sizes(ocr.images_to_pdf(data)) == [(432.0, 432.0)]


def test_transparent_png_becomes_a_page() -> None:
    data = _image_bytes(Image.new("RGBA", (300, 300), (0, 0, 0, 0)), "PNG", dpi=(300, 300))
    assert _page_sizes(ocr.images_to_pdf(data)) == [(72.0, 72.0)]


@pytest.mark.parametrize("mode", ["I", "F", "LAB"])
def test_images_img2pdf_refuses_are_converted_to_8_bit_first(mode: str) -> None:
    """img2pdf keeps samples as they are and refuses 32-bit and Lab TIFFs; Pillow flattens them."""
    data = _image_bytes(Image.new(mode, (600, 300)), "TIFF", dpi=(300, 300))
    pdf = ocr.images_to_pdf(data)
    assert _page_sizes(pdf) == [(144.0, 72.0)]
    with pikepdf.open(io.BytesIO(pdf)) as document:
        [image] = document.pages[0].get_images().values()
        assert int(image.BitsPerComponent) == 8


def test_damaged_image_is_explained() -> None:
    data = _image_bytes(Image.new("RGB", (64, 64), "white"), "PNG")[:60]
    with pytest.raises(OcrFailed) as caught:
        ocr.images_to_pdf(data)
    assert caught.value.message == "La imagen está dañada y no se pudo procesar."


# --- Small parts --------------------------------------------------------------------------------


def test_normalise_text_collapses_spaces_and_blank_lines() -> None:
    raw = "  Oficio   número 5 \n\n\n\tAsunto:  copia\x00 \n \n"
    assert ocr.normalise_text(raw) == "Oficio número 5\n\nAsunto: copia"


@pytest.mark.parametrize(
    "changes",
    [{"languages": "spa; rm -rf /"}, {"languages": "-l"}, {"timeout_seconds": 0}, {"memory_mb": 10},
     {"optimize": 4}, {"jobs": 0}, {"max_pages": 0}],
)
def test_options_refuse_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        OcrOptions(**changes)  # type: ignore[arg-type]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        OcrmypdfEngine().process(b"GIF89a", "gif")


def test_fake_engine_converts_images_and_reports_progress() -> None:
    engine = FakeOcrEngine(text="hola")
    events: list[tuple[int, int]] = []
    frames = [Image.new("L", (300, 300), 255)] * 2
    data = _image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])

    result = engine.process(data, "tiff", progress=lambda done, total: events.append((done, total)))

    assert result.pages == ("hola", "hola") and result.ocr_applied
    assert result.pdf.startswith(b"%PDF-")
    assert events[-1] == (2, 2)
    assert engine.calls == [("tiff", False)]


def test_fake_engine_leaves_signed_pdfs_alone() -> None:
    data = text_page_pdf(["firmado"])
    result = FakeOcrEngine().process(data, "pdf", signed=True)
    assert result.pdf is data and not result.ocr_applied and result.pages == ("firmado",)
