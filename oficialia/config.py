"""Configuration: defaults here, everything else from ``OFICIALIA_*`` environment variables.

``create_app`` loads :class:`Defaults`, then ``app.config.from_prefixed_env("OFICIALIA")``
(so ``OFICIALIA_DATABASE_URL`` becomes ``DATABASE_URL``), then derives the settings of the
extensions from them in :func:`finalize`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Defaults:
    #: SQLAlchemy URL; empty means SQLite in the instance folder
    DATABASE_URL = ""
    #: a folder, or s3://KEY:SECRET@host:port/bucket (MinIO / any S3 with Object Lock)
    STORAGE_URL = ""
    #: days each original stays locked on S3, and the lock mode
    STORAGE_RETENTION_DAYS = 3650
    STORAGE_RETENTION_MODE = "COMPLIANCE"
    #: redis://…; empty means jobs run in the web process
    REDIS_URL = ""
    #: secret for sessions and CSRF; empty means one generated once into the instance folder
    SECRET_KEY = ""
    TIMEZONE = "America/Mexico_City"
    INSTITUTION = "H. Ayuntamiento de Villa Esperanza"
    OFFICE_NAME = "Oficialía de Partes"
    #: folio format: {office}, {year} and {seq} are available
    FOLIO_FORMAT = "OP-{year}-{seq:06d}"
    FOLIO_OFFICE = "OP"
    #: base URL printed in QR codes and e-mails
    PUBLIC_URL = "http://127.0.0.1:5000"
    MAX_FILE_MB = 25
    MAX_FILING_MB = 100
    MAX_PAGES = 500
    MAX_PIXELS = 40_000_000
    #: OCR: languages, limits per job, parallel pages per job, in-process workers (no Redis)
    OCR_LANGUAGES = "spa+eng"
    OCR_TIMEOUT_SECONDS = 900
    OCR_MEMORY_MB = 3072
    OCR_JOBS = 1
    OCR_WORKERS = 1
    #: a "running" OCR with no sign of life for this long is run again by the sweeper
    OCR_STALE_SECONDS = 1200
    #: how often the worker sweeps for documents left pending (and runs the other maintenance)
    OCR_SWEEP_SECONDS = 60
    #: without Redis, run that maintenance in a thread of the web process (the embedded default)
    MAINTENANCE_IN_PROCESS = True
    #: seconds each process keeps the catalogue, the calendar and the webhook subscriptions that
    #: every filing reads (a change made through another process shows within that time; 0: none)
    REFERENCE_CACHE_SECONDS = 5
    #: response term in working days for a filing with no procedure from the catalogue
    DEFAULT_RESPONSE_DAYS = 10
    #: days before a deadline when the assignee is warned
    DEADLINE_WARNING_DAYS = 2
    #: department that receives escalations of overdue filings (internal audit)
    AUDIT_DEPARTMENT = "CONTRA"
    #: term, in working days, in which internal audit resolves a protesta ciudadana
    PROTEST_RESPONSE_DAYS = 5
    #: shared secret of the payment gateway's notices (HMAC-SHA256 of the body); empty: no gateway
    PAYMENT_WEBHOOK_SECRET = ""
    #: appointments: opening and closing time (local), slot length, working days ahead, grace for no-shows
    TURN_OPENS = "09:00"
    TURN_CLOSES = "14:00"
    TURN_SLOT_MINUTES = 30
    TURN_BOOKING_DAYS = 10
    TURN_NO_SHOW_MINUTES = 15
    #: weekdays with attention (0 = Monday … 6 = Sunday), comma-separated; the calendar's rest days close them
    TURN_WEEKDAYS = "0,1,2,3,4"
    #: outgoing e-mail (SMTP); an empty MAIL_SERVER writes e-mails to the console (they stay in
    #: the outbox table all the same). MAIL_USE_TLS: STARTTLS; port 465 uses implicit TLS.
    MAIL_SERVER = ""
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    #: the From address; the office's name is added when it carries no name
    MAIL_FROM = "no-responder@localhost"
    #: reverse proxies in front of the app whose X-Forwarded-* headers are trusted
    PROXY_COUNT = 0
    #: failed logins before an account is locked, and for how long
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_MINUTES = 15
    #: signature verification: seconds and MiB per file (isolated worker), workers per process,
    #: fetching OCSP/CRL over the network (off: a public verifier must not fetch URLs from uploads),
    #: and whether a signature with no revocation data can be VÁLIDA
    VERIFY_TIMEOUT_SECONDS = 10
    VERIFY_MEMORY_MB = 1024
    VERIFY_WORKERS = 2
    VERIFY_ALLOW_FETCH = False
    VERIFY_REQUIRE_REVOCATION = False
    RATELIMIT_VERIFY = "20 per minute"
    #: Flask-Limiter rules
    RATELIMIT_LOGIN = "10 per minute"
    RATELIMIT_TRACK = "30 per minute"
    RATELIMIT_HEADERS_ENABLED = True
    #: API limits per token (or per address without one) and per address, on every operation
    RATELIMIT_API_TOKEN = "120 per minute"  # noqa: S105 - a rate, not a secret
    RATELIMIT_API_ADDRESS = "600 per minute"
    #: days an Idempotency-Key is remembered (a retry later than that files anew)
    IDEMPOTENCY_DAYS = 7
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
    #: Signing (firma). RFC 3161 time-stamping authority; empty: signatures stay at PAdES B-B
    TSA_URL = ""
    #: optional cap on the PAdES level: B-B, B-T, B-LT or B-LTA (default: the highest possible)
    SIGNING_LEVEL = ""
    #: seconds for each TSA / OCSP / CRL request; fetch revocation data when checking certificates
    SIGNING_TIMEOUT = 10
    SIGNING_FETCH_REVOCATION = True
    #: folder of trusted CA certificates (PEM/DER); empty: <instance>/pki/trust (the demo PKI's)
    TRUST_DIR = ""
    #: the institution's seal: a PKCS#12 file (empty: <instance>/pki/seal.p12) and its password
    #: (empty: <instance>/pki/seal.password), or a PKCS#11 token (an HSM) when the library is set
    SEAL_PKCS12 = ""
    SEAL_PASSWORD = ""
    SEAL_PKCS11_LIBRARY = ""
    SEAL_PKCS11_TOKEN = ""
    SEAL_PKCS11_PIN = ""
    SEAL_PKCS11_KEY_LABEL = ""
    SEAL_PKCS11_CERT_LABEL = ""
    #: responses: wrong signing passwords per user before signing is locked, and for how long
    SIGN_MAX_FAILURES = 5
    SIGN_LOCK_MINUTES = 15
    #: place printed before the date of a composed response letter ("Villa Esperanza, a ...")
    LETTER_PLACE = ""


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Derive the extensions' settings and fail fast on values that cannot work.

    :raises RuntimeError: on an invalid setting, naming it.
    """
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance / 'oficialia.db'}"
    url = str(config["DATABASE_URL"])
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver we ship
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
            "connect_args": {"timeout": 30, "check_same_thread": False},
        })
    else:
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
            # no pool_pre_ping: create_app checks each connection without a round trip
            "pool_size": 10, "max_overflow": 20,
        })
    if not config.get("STORAGE_URL"):
        config["STORAGE_URL"] = str(instance / "storage")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    try:
        ZoneInfo(str(config["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise RuntimeError(f"OFICIALIA_TIMEZONE: unknown time zone {config['TIMEZONE']!r}") from e
    try:
        config["FOLIO_FORMAT"].format(office="OP", year=2026, seq=1)
    except (KeyError, ValueError, IndexError) as e:
        raise RuntimeError("OFICIALIA_FOLIO_FORMAT: use {office}, {year} and {seq}") from e
    for key in ("MAX_FILE_MB", "MAX_FILING_MB", "MAX_PAGES", "MAX_PIXELS"):
        if float(config[key]) <= 0:
            raise RuntimeError(f"OFICIALIA_{key} must be positive")
    # Werkzeug refuses larger bodies with 413 before anything is read into memory.
    config.setdefault("MAX_CONTENT_LENGTH", int((float(config["MAX_FILING_MB"]) + 1) * 1024 * 1024))
    config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024
    if config.get("REDIS_URL"):
        config.setdefault("RATELIMIT_STORAGE_URI", config["REDIS_URL"])
    else:
        config.setdefault("RATELIMIT_STORAGE_URI", "memory://")


def _instance_secret(path: Path) -> str:
    """A random secret kept in the instance folder, created on first use (embedded default)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
