"""Fees of procedures (pago de derechos): payment orders with a bank reference, and their payment
confirmed by the bank's payment file or by a payment gateway's signed notice.

**The reference.** Every order gets a numeric reference of 12 digits: ten digits that identify
the order (the last two digits of the year and the filing's internal id, zero-padded to eight)
followed by two check digits computed with **ISO 7064 MOD 97-10** ("algoritmo 97", the same
check as IBAN and the CLABE-style *referencias con dígito verificador módulo 97* that Mexican banks
— BBVA's "algoritmo 97", Banorte, Santander — accept for municipal collection agreements):
``check = 98 - (base × 100 mod 97)``, so that the whole reference read as a number is ≡ 1 (mod
97). Any single wrong digit and any swap of two adjacent digits is detected. References in a
bank file that fail the check are reported as malformed and never matched.

**No card data.** The product only sees what the bank or the gateway reports after the fact:
reference, amount, date and the bank's transaction id. Citizens pay at the bank, by transfer, or
on the gateway's own pages.

**Never twice.** ``payments.order_id`` is UNIQUE: at most one payment is credited to an order, and
the order row is locked while a payment is matched. A second payment of the same reference is
kept as *already paid* for the reconciliation (to refund it), never credited. ``(source,
transaction_id)`` is UNIQUE too: importing the same file twice reports its rows as duplicates.

**The filing waits.** A filing whose procedure carries a fee cannot be routed until its order is
paid (``workflows.routing`` asks :func:`payment_pending`); the mail room may still reject it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, Numeric, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.logbook import append_entry

from .db import DbSession, UTCDateTime, db, str_enum, utcnow
from .errors import Conflict, InvalidInput
from .models import Filing, User

REFERENCE_LENGTH = 12
MAX_ROWS = 100_000
COLUMNS = ("referencia", "importe", "fecha", "autorizacion")


# --- the check digits ---------------------------------------------------------------------------


def _numeric(text: str) -> str:
    """Letters as ISO 7064 / ISO 13616 read them (A=10 … Z=35); digits as they are."""
    return "".join(str(int(ch, 36)) for ch in text.upper())


def mod97_check_digits(base: str) -> str:
    """The two ISO 7064 MOD 97-10 check digits of ``base`` (digits, or letters read as 10–35)."""
    if not base or not base.isalnum():
        raise ValueError("base must be alphanumeric")
    return f"{98 - int(_numeric(base) + '00') % 97:02d}"


def mod97_valid(reference: str) -> bool:
    """Whether ``reference`` (base followed by its two check digits) passes MOD 97-10."""
    return len(reference) >= 3 and reference.isalnum() and int(_numeric(reference)) % 97 == 1


def make_reference(filing: Filing) -> str:
    base = f"{filing.year % 100:02d}{filing.id:08d}"
    return base + mod97_check_digits(base)


def format_reference(reference: str) -> str:
    """Grouped by four for reading aloud: ``2600 0000 0135``."""
    return " ".join(reference[i:i + 4] for i in range(0, len(reference), 4))


# --- tables -------------------------------------------------------------------------------------


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"


ORDER_LABELS = {OrderStatus.PENDING: "Pendiente de pago", OrderStatus.PAID: "Pagado"}


class PaymentSource(StrEnum):
    BANK_FILE = "bank_file"
    GATEWAY = "gateway"


class PaymentMatch(StrEnum):
    MATCHED = "matched"
    UNKNOWN_REFERENCE = "unknown_reference"
    ALREADY_PAID = "already_paid"
    AMOUNT_MISMATCH = "amount_mismatch"


MATCH_LABELS = {
    PaymentMatch.MATCHED: "Aplicado",
    PaymentMatch.UNKNOWN_REFERENCE: "Referencia desconocida",
    PaymentMatch.ALREADY_PAID: "La orden ya estaba pagada (pago duplicado: devolver)",
    PaymentMatch.AMOUNT_MISMATCH: "El importe no coincide con la orden",
}


class PaymentOrder(db.Model):  # type: ignore[name-defined,misc]
    """What a filing owes for its procedure, and the bank reference to pay it with."""

    __tablename__ = "payment_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, unique=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    reference: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, 10), nullable=False,
                                                default=OrderStatus.PENDING, index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    filing: Mapped[Filing] = relationship()

    @property
    def status_label(self) -> str:
        return ORDER_LABELS[self.status]

    @property
    def reference_display(self) -> str:
        return format_reference(self.reference)


class Payment(db.Model):  # type: ignore[name-defined,misc]
    """A payment the bank or the gateway reported, credited to an order or left for reconciliation."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("source", "transaction_id", name="uq_payments_source_transaction_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[PaymentSource] = mapped_column(str_enum(PaymentSource, 12), nullable=False)
    #: the bank's authorisation / the gateway's transaction id
    transaction_id: Mapped[str] = mapped_column(String(100), nullable=False)
    reference: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: the order it paid; UNIQUE, so no order is ever credited twice
    order_id: Mapped[int | None] = mapped_column(ForeignKey("payment_orders.id"), unique=True)
    match: Mapped[PaymentMatch] = mapped_column(str_enum(PaymentMatch, 20), nullable=False, index=True)
    #: SHA-256 of the imported file, or of the gateway's notice
    batch: Mapped[str] = mapped_column(String(64), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    order: Mapped[PaymentOrder | None] = relationship()

    @property
    def match_label(self) -> str:
        return MATCH_LABELS[self.match]


# --- orders -------------------------------------------------------------------------------------


def issue_payment_order(session: DbSession, filing: Filing) -> PaymentOrder | None:
    """Inside the intake's transaction: the order of a procedure with a fee (flushes only)."""
    procedure = filing.procedure
    if procedure is None or not procedure.cost or procedure.cost <= 0:
        return None
    order = PaymentOrder(filing_id=filing.id, amount=procedure.cost, reference=make_reference(filing),
                         status=OrderStatus.PENDING, issued_at=filing.received_at)
    session.add(order)
    session.flush()
    append_entry(session, event="payment_order_issued", filing_id=filing.id, filing_folio=filing.folio,
                 actor_label="Orden de pago automática", department_id=filing.department_id, public=True,
                 at=filing.received_at, data={"reference": order.reference, "amount": str(order.amount)})
    return order


def order_of(session: DbSession, filing: Filing) -> PaymentOrder | None:
    return session.execute(select(PaymentOrder).where(PaymentOrder.filing_id == filing.id)).scalar_one_or_none()


def payment_pending(session: DbSession, filing: Filing) -> bool:
    """Whether ``filing`` carries a fee not paid yet (it may not be routed)."""
    return session.execute(select(PaymentOrder.id).where(
        PaymentOrder.filing_id == filing.id, PaymentOrder.status == OrderStatus.PENDING)).first() is not None


def receipt_line(session: DbSession, filing: Filing) -> str | None:
    """What the acuse prints about the fee (amount and reference; never the state, which changes)."""
    order = order_of(session, filing)
    if order is None:
        return None
    return (f"${order.amount:,.2f} MXN · referencia bancaria {order.reference_display} "
            "(el trámite se turna al área cuando se acredita el pago)")


# --- payments -----------------------------------------------------------------------------------


def _credit(session: DbSession, *, source: PaymentSource, transaction_id: str, reference: str, amount: Decimal,
            paid_at: datetime, batch: str, actor: User | None) -> Payment:
    """Record one reported payment and credit it when it matches a pending order (flushes only)."""
    order = session.execute(select(PaymentOrder).where(PaymentOrder.reference == reference)
                            .with_for_update()).scalar_one_or_none()
    if order is None:
        match = PaymentMatch.UNKNOWN_REFERENCE
    elif order.status is OrderStatus.PAID:
        match = PaymentMatch.ALREADY_PAID
    elif order.amount != amount:
        match = PaymentMatch.AMOUNT_MISMATCH
    else:
        match = PaymentMatch.MATCHED
    payment = Payment(source=source, transaction_id=transaction_id, reference=reference, amount=amount,
                      paid_at=paid_at, match=match, batch=batch, imported_at=utcnow(),
                      imported_by_id=actor.id if actor else None,
                      order_id=order.id if (order is not None and match is PaymentMatch.MATCHED) else None)
    session.add(payment)
    if order is not None and match is PaymentMatch.MATCHED:
        order.status, order.paid_at = OrderStatus.PAID, paid_at
        filing = order.filing
        append_entry(session, event="payment_received", filing_id=filing.id, filing_folio=filing.folio,
                     actor_label=(f"{actor.name} <{actor.email}>" if actor else
                                  ("Banco (archivo de pagos)" if source is PaymentSource.BANK_FILE
                                   else "Pasarela de pagos")),
                     actor_id=actor.id if actor else None, department_id=filing.department_id, public=True,
                     data={"reference": reference, "amount": str(amount), "source": source.value,
                           "transaction_id": transaction_id})
    session.flush()
    return payment


def _tell_filers(session: DbSession, folios: list[str]) -> None:
    """E-mail the filers whose fee was just credited (after the commit; never raises)."""
    from workflows.notifications import notify_after_commit, notify_filer

    def build() -> list[Any]:
        out = []
        for folio in folios:
            order = session.execute(select(PaymentOrder).join(Filing).where(Filing.folio == folio)).scalar_one()
            note = notify_filer(session, order.filing, "payment_received", amount=f"{order.amount:,.2f}",
                                reference=order.reference_display)
            if note is not None:
                out.append(note)
        return out

    if folios:
        notify_after_commit(session, "pagos acreditados", build)


def _known_transaction(session: DbSession, source: PaymentSource, transaction_id: str) -> bool:
    return session.execute(select(Payment.id).where(Payment.source == source,
                                                    Payment.transaction_id == transaction_id)).first() is not None


@dataclass
class ImportReport:
    batch: str
    rows: int = 0
    matched: list[tuple[int, str, str]] = field(default_factory=list)
    #: recorded for the reconciliation, not credited: (line, reference, why)
    unmatched: list[tuple[int, str, str]] = field(default_factory=list)
    #: already imported (this file or an earlier one): (line, transaction id)
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    #: not recorded at all: (line, why)
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report in Spanish, one line each."""
        out = [f"Renglones leídos: {self.rows}. Pagos aplicados: {len(self.matched)}. "
               f"Sin aplicar (para conciliar): {len(self.unmatched)}. Duplicados: {len(self.duplicates)}. "
               f"Con errores (no registrados): {len(self.malformed)}."]
        rows = [(n, f"Renglón {n}: referencia {ref} aplicada al folio {folio}.") for n, ref, folio in self.matched]
        rows += [(n, f"Renglón {n}: referencia {ref} registrada sin aplicar: {why}.") for n, ref, why in self.unmatched]
        rows += [(n, f"Renglón {n}: autorización {txn} ya importada; se omitió.") for n, txn in self.duplicates]
        rows += [(n, f"Renglón {n}: {why}") for n, why in self.malformed]
        return out + [text for _, text in sorted(rows, key=lambda r: r[0])]

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "rows": self.rows,
                "matched": [{"line": n, "reference": r, "folio": f} for n, r, f in self.matched],
                "unmatched": [{"line": n, "reference": r, "reason": w} for n, r, w in self.unmatched],
                "duplicates": [{"line": n, "transaction_id": t} for n, t in self.duplicates],
                "malformed": [{"line": n, "reason": w} for n, w in self.malformed]}


def _plain(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text.strip().lower())
                   if unicodedata.category(ch) != "Mn")


def parse_amount(raw: str) -> Decimal:
    """``1250``, ``1250.00``, ``$1,250.00`` → ``Decimal('1250.00')``.

    :raises ValueError: not a positive amount with at most two decimals.
    """
    text = raw.strip().replace("$", "").replace(",", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"importe «{raw.strip()}» no es un número") from None
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2 or value >= Decimal("1e10"):  # type: ignore[operator]
        raise ValueError(f"importe «{raw.strip()}» no válido (positivo, con a lo más dos decimales)")
    return value.quantize(Decimal("0.01"))


def parse_paid_at(raw: str, tz: str) -> datetime:
    """``2026-11-20``, ``2026-11-20 13:05[:00]`` or ``20/11/2026`` in local time → aware UTC-able.

    :raises ValueError: in any other form.
    """
    text = raw.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=ZoneInfo(tz))
    raise ValueError(f"fecha «{text}» no válida (use AAAA-MM-DD o DD/MM/AAAA)")


def clean_reference(raw: str) -> str:
    """Digits of a reference as typed or printed (spaces and dashes dropped).

    :raises ValueError: not 12 digits, or wrong check digits.
    """
    ref = "".join(ch for ch in raw if ch not in " -")
    if not ref.isdigit() or len(ref) != REFERENCE_LENGTH:
        raise ValueError(f"referencia «{raw.strip()}» no válida ({REFERENCE_LENGTH} dígitos)")
    if not mod97_valid(ref):
        raise ValueError(f"referencia «{raw.strip()}» con dígito verificador incorrecto (módulo 97)")
    return ref


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # many bank exports are Windows-1252 / Latin-1


def import_bank_file(session: DbSession, data: bytes, *, actor: User | None, tz: str) -> ImportReport:
    """Import the bank's payment file (CSV) in one transaction; commit.

    The file has a header row with the columns ``referencia``, ``importe``, ``fecha`` and
    ``autorizacion`` (in any order, accents and case ignored, comma or semicolon separated; other
    columns are ignored). Every row is either credited, recorded for reconciliation (unknown
    reference, order already paid, different amount), skipped as a duplicate (its authorisation
    was imported before), or reported as malformed and not recorded.

    :raises InvalidInput: the file is empty, not text, or lacks one of the columns.
    :raises Conflict: another import recorded the same payments at the same moment (run it again).
    """
    batch = hashlib.sha256(data).hexdigest()
    text = _decode(data)
    if not text.strip():
        raise InvalidInput("El archivo de pagos está vacío.", field="file")
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [_plain(h) for h in next(reader)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInput("El archivo no tiene la(s) columna(s): " + ", ".join(missing) + ". La primera fila debe "
                           "nombrar las columnas referencia, importe, fecha y autorizacion.", field="file")
    index = {c: header.index(c) for c in COLUMNS}
    report = ImportReport(batch=batch)
    seen: set[str] = set()
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            report.rows += 1
            if report.rows > MAX_ROWS:
                report.malformed.append((line, f"el archivo excede {MAX_ROWS} renglones; el resto no se leyó."))
                break
            if len(row) < len(header):
                report.malformed.append((line, f"tiene {len(row)} columnas y se esperaban {len(header)}."))
                continue
            try:
                reference = clean_reference(row[index["referencia"]])
                amount = parse_amount(row[index["importe"]])
                paid_at = parse_paid_at(row[index["fecha"]], tz)
                txn = row[index["autorizacion"]].strip()
                if not txn or len(txn) > 100:
                    raise ValueError("falta la autorización del banco (o excede 100 caracteres)")
            except ValueError as e:
                report.malformed.append((line, str(e) + "."))
                continue
            if txn in seen or _known_transaction(session, PaymentSource.BANK_FILE, txn):
                report.duplicates.append((line, txn))
                continue
            seen.add(txn)
            payment = _credit(session, source=PaymentSource.BANK_FILE, transaction_id=txn, reference=reference,
                              amount=amount, paid_at=paid_at, batch=batch, actor=actor)
            if payment.match is PaymentMatch.MATCHED and payment.order is not None:
                report.matched.append((line, reference, payment.order.filing.folio))
            else:
                report.unmatched.append((line, reference, MATCH_LABELS[payment.match].lower()))
        session.commit()
        _tell_filers(session, [folio for _, _, folio in report.matched])
    except IntegrityError:
        session.rollback()
        raise Conflict("Otra importación registró los mismos pagos al mismo tiempo. Importe el archivo de nuevo: "
                       "lo ya registrado aparecerá como duplicado.") from None
    except BaseException:
        session.rollback()
        raise
    return report


# --- the gateway --------------------------------------------------------------------------------


def gateway_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``: what the gateway sends in ``X-Signature``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    return bool(secret) and bool(header) and hmac.compare_digest(gateway_signature(secret, body), str(header).strip())


def record_gateway_payment(session: DbSession, *, transaction_id: str, reference: str, amount: str,
                           paid_at: str, body: bytes, tz: str) -> tuple[Payment | None, bool]:
    """Record a payment the gateway notified (its signature already checked); commit.

    :returns: the payment and ``True``, or ``(None, False)`` when the transaction was notified before.
    :raises InvalidInput: a malformed field.
    """
    try:
        ref = clean_reference(reference)
        value = parse_amount(amount)
        when = datetime.fromisoformat(paid_at.strip()) if "T" in paid_at else parse_paid_at(paid_at, tz)
    except ValueError as e:
        raise InvalidInput(f"Aviso de pago no válido: {e}.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(tz))
    txn = transaction_id.strip()
    if _known_transaction(session, PaymentSource.GATEWAY, txn):
        return None, False
    try:
        payment = _credit(session, source=PaymentSource.GATEWAY, transaction_id=txn, reference=ref, amount=value,
                          paid_at=when, batch=hashlib.sha256(body).hexdigest(), actor=None)
        session.commit()
        if payment.order is not None:
            _tell_filers(session, [payment.order.filing.folio])
    except IntegrityError:  # the same notice delivered twice at once
        session.rollback()
        return None, False
    except BaseException:
        session.rollback()
        raise
    return payment, True


# --- reconciliation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    paid: int
    paid_amount: Decimal
    pending: int
    pending_amount: Decimal
    unmatched: int
    unmatched_amount: Decimal


def reconciliation(session: DbSession) -> Reconciliation:
    def totals(stmt: Any) -> tuple[int, Decimal]:
        count, total = session.execute(stmt).one()
        return int(count or 0), Decimal(total or 0).quantize(Decimal("0.01"))

    paid = totals(select(func.count(PaymentOrder.id), func.sum(PaymentOrder.amount))
                  .where(PaymentOrder.status == OrderStatus.PAID))
    pending = totals(select(func.count(PaymentOrder.id), func.sum(PaymentOrder.amount))
                     .where(PaymentOrder.status == OrderStatus.PENDING))
    unmatched = totals(select(func.count(Payment.id), func.sum(Payment.amount))
                       .where(Payment.match != PaymentMatch.MATCHED))
    return Reconciliation(paid=paid[0], paid_amount=paid[1], pending=pending[0], pending_amount=pending[1],
                          unmatched=unmatched[0], unmatched_amount=unmatched[1])
