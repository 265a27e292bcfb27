"""The mail-room's tables: users and tokens, departments and procedures, filings, their
documents and the folio counters."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.states import FilingState

from .db import UTCDateTime, db, str_enum, utcnow


class Role(StrEnum):
    CITIZEN = "citizen"
    CLERK = "clerk"
    STAFF = "staff"
    SIGNER = "signer"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.CITIZEN: "Ciudadano",
    Role.CLERK: "Oficialía de partes",
    Role.STAFF: "Personal de área",
    Role.SIGNER: "Titular / firmante",
    Role.AUDITOR: "Auditor",
    Role.ADMIN: "Administrador",
}


class FilerKind(StrEnum):
    NATURAL = "fisica"
    LEGAL = "moral"


class Gender(StrEnum):
    WOMAN = "mujer"
    MAN = "hombre"
    OTHER = "otro"
    UNSTATED = "no_indica"


class Channel(StrEnum):
    WEB = "web"
    WINDOW = "ventanilla"
    API = "api"
    CHATBOT = "chatbot"
    APP = "app"
    PHONE = "telefono"
    EMAIL = "correo"
    AGENCY = "interinstitucional"


CHANNEL_LABELS = {
    Channel.WEB: "Portal web",
    Channel.WINDOW: "Ventanilla",
    Channel.API: "API",
    Channel.CHATBOT: "Chatbot",
    Channel.APP: "Aplicación móvil",
    Channel.PHONE: "Centro de atención telefónica",
    Channel.EMAIL: "Correo electrónico",
    Channel.AGENCY: "Otra dependencia",
}


class OcrStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Department(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: short code, e.g. "OBRAS"
    code: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    #: the head (titular) of the department
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, name="fk_departments_head_id_users"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    parent: Mapped[Department | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Department]] = relationship(back_populates="parent", order_by="Department.name")
    head: Mapped[User | None] = relationship(foreign_keys=[head_id])


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: stored lowercased
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[Role] = mapped_column(str_enum(Role), nullable=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    #: RFC on the signer's profile; a signing certificate must carry the same one
    rfc: Mapped[str | None] = mapped_column(String(13))
    #: Argon2id hash; None for accounts that cannot sign in with a password
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: SHA-256 of the token; the token itself is shown once and never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: first characters, to recognise a token in lists
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: what the token may do, space-separated (see :mod:`oficialia.tokens`); role checks still apply
    scopes: Mapped[str] = mapped_column(String(100), nullable=False, default="file track act sign stats",
                                        server_default="file track act sign stats")
    #: the channel recorded on every filing the token creates (chatbot, app, telefono…); None: the form's
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel))

    user: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class Procedure(db.Model):  # type: ignore[name-defined,misc]
    """An entry of the catalogue of procedures and services (trámites y servicios)."""

    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False)
    #: legal response time, in working days
    response_days: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    #: one requirement per line
    requirements: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: fee in MXN; 0 for free procedures
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False, default=Decimal("0"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    department: Mapped[Department] = relationship()

    @property
    def requirement_list(self) -> list[str]:
        return [line.strip() for line in self.requirements.splitlines() if line.strip()]


class FolioCounter(db.Model):  # type: ignore[name-defined,misc]
    """The last folio number issued per office and year; its row lock serialises intakes."""

    __tablename__ = "folio_counters"

    office: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


#: the states of a filing still being attended (received, routed, in progress, awaiting the filer)
OPEN_FILINGS_SQL = "status IN ('received', 'routed', 'in_progress', 'awaiting_filer')"


class Filing(db.Model):  # type: ignore[name-defined,misc]
    """A writing addressed to the administration (escrito / petición) and its folio."""

    __tablename__ = "filings"
    __table_args__ = (
        UniqueConstraint("office", "year", "number", name="uq_filings_office_year_number"),
        # the backlog (statistics, deadline sweeps) reads only the filings still open: a few percent
        Index("ix_filings_open", "department_id", "due_at", "received_at",
              postgresql_where=sql_text(OPEN_FILINGS_SQL), sqlite_where=sql_text(OPEN_FILINGS_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folio: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    office: Mapped[str] = mapped_column(String(16), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id"), index=True)
    #: the department the filer addressed
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    #: the filer's account, if they filed signed in
    filer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    filer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    filer_email: Mapped[str | None] = mapped_column(String(254))
    filer_phone: Mapped[str | None] = mapped_column(String(40))
    filer_kind: Mapped[FilerKind] = mapped_column(str_enum(FilerKind), nullable=False)
    filer_gender: Mapped[Gender] = mapped_column(str_enum(Gender), nullable=False, default=Gender.UNSTATED)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel), nullable=False, index=True)
    status: Mapped[FilingState] = mapped_column(str_enum(FilingState), nullable=False,
                                                default=FilingState.RECEIVED, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    #: the clerk who registered a walk-in filing
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: SHA-256 of "folio:code"; the code itself is shown once, on the acuse
    tracking_code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: annexes handed in on paper, as noted by the clerk
    physical_annexes: Mapped[str | None] = mapped_column(Text)
    #: the legal response deadline (end of the last working day), moved while the clock stops
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: when the clock stopped to wait for the filer; None while it runs
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    procedure: Mapped[Procedure | None] = relationship()
    department: Mapped[Department | None] = relationship()
    filer: Mapped[User | None] = relationship(foreign_keys=[filer_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    #: the documents filed with it (not message attachments nor field photos)
    documents: Mapped[list[Document]] = relationship(
        back_populates="filing", order_by="Document.position",
        primaryjoin="and_(Filing.id == Document.filing_id, Document.source == 'filing')")

    @property
    def total_pages(self) -> int:
        return sum(d.pages for d in self.documents)


class Document(db.Model):  # type: ignore[name-defined,misc]
    """One file of a filing, kept byte for byte as received."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    #: the name the filer gave, cleaned; shown, never used as a storage key
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    pages: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    #: the object version on S3, so a later upload under the same key never replaces it
    storage_version: Mapped[str | None] = mapped_column(String(200))
    #: where the file came from: the filing itself, a message of the thread, a field crew's photo
    source: Mapped[str] = mapped_column(String(20), nullable=False, default="filing")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    field_update_id: Mapped[int | None] = mapped_column(ForeignKey("field_updates.id"))
    ocr_status: Mapped[OcrStatus] = mapped_column(str_enum(OcrStatus), nullable=False, default=OcrStatus.PENDING,
                                                  index=True)
    #: progress of the running OCR job, in pages
    ocr_pages_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ocr_pages_total: Mapped[int | None] = mapped_column(Integer)
    #: why OCR failed, in words a clerk understands
    ocr_error: Mapped[str | None] = mapped_column(Text)
    ocr_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: last sign of life of the OCR job (claim, progress, end); a stale "running" is re-run
    ocr_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the searchable, stamped copy (PDF/A); the original is never replaced
    derived_key: Mapped[str | None] = mapped_column(String(300))
    derived_sha256: Mapped[str | None] = mapped_column(String(64))
    derived_size: Mapped[int | None] = mapped_column(Integer)
    derived_version: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    filing: Mapped[Filing] = relationship(back_populates="documents")
    page_texts: Mapped[list[DocumentPage]] = relationship(
        back_populates="document", order_by="DocumentPage.number", cascade="all, delete-orphan")

    @property
    def ocr_percent(self) -> int:
        if self.ocr_status is OcrStatus.DONE:
            return 100
        if not self.ocr_pages_total:
            return 0
        return min(99, int(100 * self.ocr_pages_done / self.ocr_pages_total))


class DocumentPage(db.Model):  # type: ignore[name-defined,misc]
    """The text of one page of a document, as OCR (or the PDF itself) gave it."""

    __tablename__ = "document_pages"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_document_pages_document_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")

    document: Mapped[Document] = relationship(back_populates="page_texts")


class FilingSearch(db.Model):  # type: ignore[name-defined,misc]
    """What full-text search reads for a filing: subject, body and every document's text.

    PostgreSQL indexes ``to_tsvector('es_unaccent', content)`` (Spanish stemming, accents
    ignored) with GIN; SQLite keeps an FTS5 table (``filing_fts``) in step with this one.
    """

    __tablename__ = "filing_search"

    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), primary_key=True, autoincrement=False)
    content: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ResponseSense(StrEnum):
    FAVORABLE = "favorable"
    UNFAVORABLE = "desfavorable"
    PARTIAL = "parcial"
    INFORMATIVE = "informativa"


SENSE_LABELS = {
    ResponseSense.FAVORABLE: "Favorable",
    ResponseSense.UNFAVORABLE: "Desfavorable",
    ResponseSense.PARTIAL: "Parcial",
    ResponseSense.INFORMATIVE: "Informativa",
}


class ResponseStatus(StrEnum):
    #: still editable by its author
    DRAFT = "draft"
    #: frozen at its first signature, waiting for the others
    SIGNING = "signing"
    #: every signature is in: sealed, stored, sent to the filer
    ISSUED = "issued"
    CANCELLED = "cancelled"


class Response(db.Model):  # type: ignore[name-defined,misc]
    """The administration's answer to a filing: a PDF signed by one or more officials."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, index=True)
    #: the department that answers
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    sense: Mapped[ResponseSense] = mapped_column(str_enum(ResponseSense), nullable=False)
    status: Mapped[ResponseStatus] = mapped_column(str_enum(ResponseStatus), nullable=False,
                                                   default=ResponseStatus.DRAFT, index=True)
    #: the text composed in the form, rendered as an official letter; None for an uploaded PDF
    text: Mapped[str | None] = mapped_column(Text)
    #: the draft PDF (uploaded or rendered), frozen at the first signature
    draft_key: Mapped[str] = mapped_column(String(300), nullable=False)
    draft_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    draft_version: Mapped[str | None] = mapped_column(String(200))
    #: the PDF as it stands after the last signature (the issued response once issued)
    signed_key: Mapped[str | None] = mapped_column(String(300))
    signed_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signed_version: Mapped[str | None] = mapped_column(String(200))
    signed_size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    filing: Mapped[Filing] = relationship()
    department: Mapped[Department] = relationship()
    author: Mapped[User] = relationship()

    @property
    def sense_label(self) -> str:
        return SENSE_LABELS[self.sense]


class ResponseSigner(db.Model):  # type: ignore[name-defined,misc]
    """One required signature of a response, in the order the signers sign; filled in when given."""

    __tablename__ = "response_signers"
    __table_args__ = (UniqueConstraint("response_id", "position", name="uq_response_signers_response_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), nullable=False, index=True)
    #: 1 for the first signer (whose signature certifies the document), 2 for the next...
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the signing certificate, as read from it at signing time
    certificate_serial: Mapped[str | None] = mapped_column(String(100))
    certificate_subject: Mapped[str | None] = mapped_column(String(300))
    certificate_issuer: Mapped[str | None] = mapped_column(String(300))
    certificate_rfc: Mapped[str | None] = mapped_column(String(13))
    #: PAdES level reached: B-B, B-T, B-LT or B-LTA
    level: Mapped[str | None] = mapped_column(String(10))
    #: the PDF as it stands after this signature
    signed_key: Mapped[str | None] = mapped_column(String(300))
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_version: Mapped[str | None] = mapped_column(String(200))
    signed_size: Mapped[int | None] = mapped_column(Integer)

    response: Mapped[Response] = relationship()
    user: Mapped[User] = relationship()


class SigningThrottle(db.Model):  # type: ignore[name-defined,misc]
    """Wrong signing passwords per user: after too many, signing is locked for a while."""

    __tablename__ = "signing_throttles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrustAnchorKind(StrEnum):
    #: a root the verifier trusts
    ROOT = "root"
    #: an issuing CA that helps build chains (trusted as an anchor too when an admin adds it)
    INTERMEDIATE = "intermediate"


TRUST_KIND_LABELS = {
    TrustAnchorKind.ROOT: "Raíz",
    TrustAnchorKind.INTERMEDIATE: "Intermedia (emisora)",
}


class TrustAnchor(db.Model):  # type: ignore[name-defined,misc]
    """A certificate the signature verifier trusts, who added it and why."""

    __tablename__ = "trust_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the certificate, DER
    certificate: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    subject: Mapped[str] = mapped_column(String(1000), nullable=False)
    issuer: Mapped[str] = mapped_column(String(1000), nullable=False)
    #: serial number, upper-case hexadecimal
    serial: Mapped[str] = mapped_column(String(100), nullable=False)
    #: SHA-256 of the DER, lower-case hexadecimal
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[TrustAnchorKind] = mapped_column(str_enum(TrustAnchorKind), nullable=False)
    #: the admin who added it; None when added from the command line or the demo
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: why it is trusted, in the admin's words
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, index=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    added_by: Mapped[User | None] = relationship()

    @property
    def kind_label(self) -> str:
        return TRUST_KIND_LABELS[self.kind]


#: response times (working days) counted in columns of :class:`StatsDay`; longer ones go to
#: :class:`StatsResponseDays`
STATS_HISTOGRAM_DAYS = 60


class StatsDay(db.Model):  # type: ignore[name-defined,misc]
    """Counts of filings per local day of receipt, department and procedure, kept in step with
    intake and with the issue of responses (``oficialia.stats``), so figures never scan filings.

    ``dim``/``value`` split the day's filings by one attribute: ``all``/"" (every filing),
    ``channel``, ``kind``, ``gender`` — or, for ``sense``, the answered ones by the sense of the
    response. ``department_id``/``procedure_id`` are 0 for "none" (they are part of the key).
    """

    __tablename__ = "stats_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    procedure_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dim: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: filings received that day (for ``sense``: answered with that sense)
    filings: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: of those, how many have been answered (a response issued)
    answered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: answered after their legal deadline
    answered_late: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: sum of the response times, in working days
    days_sum: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The histogram of response times: ``h0`` … ``h59`` count the filings answered in that many
    # working days (longer ones go to :class:`StatsResponseDays`), so a median is one row per group.
    for _n in range(STATS_HISTOGRAM_DAYS):
        locals()[f"h{_n}"] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    del _n


Index("ix_stats_days_dim_day", StatsDay.dim, StatsDay.day)


class StatsResponseDays(db.Model):  # type: ignore[name-defined,misc]
    """The rest of the histogram of :class:`StatsDay`: answers that took
    ``STATS_HISTOGRAM_DAYS`` working days or more, counted per exact number of days (rare)."""

    __tablename__ = "stats_response_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    procedure_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dim: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(20), primary_key=True)
    days: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    #: how many filings were answered in ``days`` working days
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


Index("ix_stats_response_days_dim_day", StatsResponseDays.dim, StatsResponseDays.day)


class Evaluation(db.Model):  # type: ignore[name-defined,misc]
    """The filer's rating of the attention received (1 to 5), once per filing."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), unique=True, nullable=False)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id"))
    #: the department that answered (the one rated)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)

    filing: Mapped[Filing] = relationship()
    department: Mapped[Department | None] = relationship()
