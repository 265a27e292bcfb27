"""Small real documents made in the test run: PDFs (reportlab), images and multi-page TIFFs (Pillow)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def pdf_bytes(pages: int = 1, text: str = "Escrito de prueba", padding: int = 0) -> bytes:
    """A real PDF of ``pages`` pages; ``padding`` adds that many bytes of incompressible noise
    in a PDF comment-free way (an embedded random image), to reach a target size."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=0)
    for n in range(1, pages + 1):
        c.setFont("Helvetica", 12)
        c.drawString(72, 760, f"{text} — página {n}")
        c.drawString(72, 740, "Solicito atentamente la reparación del alumbrado público.")
        if padding and n == 1:
            side = max(1, int((padding / 3) ** 0.5))
            noise = Image.frombytes("RGB", (side, side), random.randbytes(side * side * 3))
            from reportlab.lib.utils import ImageReader
            c.drawImage(ImageReader(noise), 72, 300, width=200, height=200)
        c.showPage()
    c.save()
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (400, 300), text: str = "Escaneo") -> bytes:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((20, 20), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(size: tuple[int, int] = (400, 300)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def tiff_bytes(pages: int = 3, size: tuple[int, int] = (850, 1100)) -> bytes:
    """A multi-page TIFF, like a scanner's output."""
    frames = []
    for n in range(pages):
        img = Image.new("L", size, 255)
        ImageDraw.Draw(img).text((50, 50), f"Hoja {n + 1} del escrito presentado en ventanilla", fill=0)
        frames.append(img)
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return buf.getvalue()


def scan_png(text: str, *, width: int = 2480, height: int = 3508) -> bytes:
    """A clean A4 page at 300 dpi with ``text`` in a large font, like a scanned letter."""
    import textwrap

    from PIL import ImageFont

    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 48)
    y = 300
    for line in textwrap.wrap(text, 60):
        draw.text((200, y), line, fill=0, font=font)
        y += 70
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(300, 300))
    return buf.getvalue()


def pay_fee(session, folio: str) -> None:
    """Pay the fee of ``folio`` (if its procedure has one) as the bank's payment file would."""
    from sqlalchemy import select

    from oficialia.models import Filing
    from oficialia.payments import OrderStatus, PaymentOrder, import_bank_file

    order = session.execute(select(PaymentOrder).join(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    if order is None or order.status is OrderStatus.PAID:
        return
    row = f"referencia,importe,fecha,autorizacion\n{order.reference},{order.amount},2026-01-02,PAGO-{folio}\n"
    import_bank_file(session, row.encode(), actor=None, tz="America/Mexico_City")
