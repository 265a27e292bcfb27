"""Parsing and checking of what users send: plain functions over mappings, no database.

Both the web forms and the JSON API go through these, so a field means the same everywhere
and every refusal has the same Spanish message.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidInput
from .models import Channel, FilerKind, Gender

_EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']{2,}$")
_CONTROL = {"Cc", "Cf", "Cs", "Co", "Cn"}

SUBJECT_MAX = 300
BODY_MAX = 20_000
NAME_MAX = 200


@dataclass(frozen=True)
class FilingForm:
    subject: str
    body: str
    procedure: str | None
    department: str | None
    filer_name: str | None
    filer_email: str | None
    filer_phone: str | None
    filer_kind: FilerKind
    filer_gender: Gender
    channel: Channel | None
    physical_annexes: str | None


def clean_text(value: str | None, *, multiline: bool = False) -> str:
    """NFC-normalise, drop control characters (keeping newlines where allowed), trim."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n")
    keep = "\n\t" if multiline else ""
    return "".join(ch for ch in value
                   if ch in keep or unicodedata.category(ch) not in _CONTROL).strip()


def clean_filename(name: str | None, extension: str) -> str:
    """A display name from what the filer sent: no path, no control characters, bounded.

    The extension always comes from the content, never from the name.
    """
    base = clean_text(os.path.basename((name or "").replace("\\", "/")))
    stem = os.path.splitext(base)[0].strip(" .")[:150]
    return f"{stem or 'documento'}{extension}"


def _choice(value: str | None, enum: type[FilerKind] | type[Gender] | type[Channel], field: str,
            message: str) -> FilerKind | Gender | Channel | None:
    value = clean_text(value).lower()
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise InvalidInput(message, field=field) from None


def parse_filing_form(data: Mapping[str, str]) -> FilingForm:
    """Check the petition fields.

    :raises InvalidInput: naming the first field that is wrong.
    """
    subject = clean_text(data.get("subject"))
    if not subject:
        raise InvalidInput("Escriba el asunto de su escrito.", field="subject")
    if len(subject) > SUBJECT_MAX:
        raise InvalidInput(f"El asunto no puede exceder {SUBJECT_MAX} caracteres.", field="subject")
    body = clean_text(data.get("body"), multiline=True)
    if len(body) > BODY_MAX:
        raise InvalidInput(f"El texto no puede exceder {BODY_MAX} caracteres.", field="body")
    filer_name = clean_text(data.get("filer_name")) or None
    if filer_name and len(filer_name) > NAME_MAX:
        raise InvalidInput(f"El nombre no puede exceder {NAME_MAX} caracteres.", field="filer_name")
    filer_email = clean_text(data.get("filer_email")).lower() or None
    if filer_email and (len(filer_email) > 254 or not _EMAIL_RE.match(filer_email)):
        raise InvalidInput("Escriba un correo electrónico válido.", field="filer_email")
    filer_phone = clean_text(data.get("filer_phone"))[:40] or None
    kind = _choice(data.get("filer_kind"), FilerKind, "filer_kind",
                   "El tipo de persona debe ser «fisica» o «moral».") or FilerKind.NATURAL
    gender = _choice(data.get("filer_gender"), Gender, "filer_gender",
                     "El género debe ser «mujer», «hombre», «otro» o «no_indica».") or Gender.UNSTATED
    channel = _choice(data.get("channel"), Channel, "channel",
                      "Canal desconocido. Valores admitidos: " + ", ".join(c.value for c in Channel) + ".")
    annexes = clean_text(data.get("physical_annexes"), multiline=True)[:2000] or None
    return FilingForm(
        subject=subject, body=body,
        procedure=clean_text(data.get("procedure")).upper() or None,
        department=clean_text(data.get("department")).upper() or None,
        filer_name=filer_name, filer_email=filer_email, filer_phone=filer_phone,
        filer_kind=FilerKind(kind), filer_gender=Gender(gender),
        channel=Channel(channel) if channel else None, physical_annexes=annexes)
