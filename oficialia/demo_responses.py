"""Demo: one filing already answered with a signed, sealed response, so the whole journey (the
signed PDF, the tracking page's download, the logbook) can be seen right after ``flask demo``.

It goes the real way: the demo citizen files, the mail-room routes it to Obras Públicas, its
staff accepts it and drafts a letter, and the department's titular signs it with the demo
PKCS#12 the demo PKI wrote for them; the institution's seal closes it. Idempotent: nothing is
done when the demo filing exists already.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

import firma
from storage import ObjectStore
from workflows.routing import ActionRequest, Target, perform_action
from workflows.states import Action

from .db import DbSession
from .forms import FilingForm
from .intake import IntakeSettings, receive_filing
from .models import FilerKind, Filing, Gender, ResponseSense, User
from .responses import Credentials, ResponseSettings, create_draft, sign_response

SUBJECT = "Reparación de luminaria frente a la escuela primaria (demostración)"
LETTER = ("En atención a su escrito, le informamos que la cuadrilla de Obras Públicas revisó la luminaria "
          "reportada y programó su reparación.\n\nLos trabajos quedarán concluidos en un plazo de cinco días "
          "hábiles. Agradecemos su participación.")


@dataclass(frozen=True)
class DemoAnswered:
    folio: str
    #: shown once, like on an acuse: only its hash is kept
    tracking_code: str | None


def seed_answered_filing(session: DbSession, store: ObjectStore, config: Any, *, pki_folder: Path,
                         signer_password: str, signing: firma.SigningSettings,
                         trust: firma.TrustSettings) -> DemoAnswered:
    """File, route, accept, draft and sign the demo response (commits).

    :param pki_folder: where the demo PKI wrote ``<e-mail local part>.p12`` for each signer.
    """
    existing = session.execute(select(Filing).where(Filing.subject == SUBJECT)).scalar_one_or_none()
    if existing is not None:
        return DemoAnswered(folio=existing.folio, tracking_code=None)

    def user(email: str) -> User:
        return session.execute(select(User).where(User.email == email)).scalar_one()

    citizen, clerk = user("ciudadana@demo.mx"), user("oficialia@demo.gob.mx")
    staff, titular = user("obras@demo.gob.mx"), user("titular.obras@demo.gob.mx")
    form = FilingForm(subject=SUBJECT, body="La luminaria del poste frente a la escuela está apagada desde hace "
                      "dos semanas.", procedure=None, department="OBRAS", filer_name=citizen.name,
                      filer_email=citizen.email, filer_phone=None, filer_kind=FilerKind.NATURAL,
                      filer_gender=Gender.WOMAN, channel=None, physical_annexes=None)
    received = receive_filing(session, store, form=form, uploads=[], actor=citizen,
                              settings=IntakeSettings.from_config(config))
    filing = received.filing
    tz = str(config["TIMEZONE"])
    perform_action(session, filing, clerk, ActionRequest(action=Action.ROUTE, targets=(Target("OBRAS"),)), tz=tz)
    perform_action(session, filing, staff, ActionRequest(action=Action.ACCEPT), tz=tz)
    settings = ResponseSettings.from_config(config)
    response = create_draft(session, store, filing, staff, sense=ResponseSense.FAVORABLE, signer_ids=[titular.id],
                            settings=settings, text=LETTER)
    p12 = (pki_folder / f"{titular.email.split('@')[0]}.p12").read_bytes()
    sign_response(session, store, response, titular, Credentials(password=signer_password, pkcs12=p12),
                  signing=signing, trust=trust, settings=settings)
    return DemoAnswered(folio=filing.folio, tracking_code=received.tracking_code)

