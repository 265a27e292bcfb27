"""The filer's evaluation of the attention: once a filing is answered, whoever holds its folio
and tracking code rates it once, 1 to 5, with an optional comment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from workflows.states import FilingState

from .db import DbSession, utcnow
from .errors import InvalidInput, NotFound
from .models import Evaluation, Filing, Response, ResponseStatus
from .tracking import find_for_tracking

#: states in which the filer may rate the attention
RATEABLE_STATES = (FilingState.ANSWERED, FilingState.CONCLUDED)
MAX_COMMENT = 2000


class AlreadyRated(InvalidInput):
    http_status = 409
    code = "already_rated"
    default_message = "Este trámite ya fue calificado. Gracias."


def can_rate(session: DbSession, filing: Filing) -> bool:
    """Whether the filer may still rate ``filing``: answered or concluded, not yet rated."""
    if filing.status not in RATEABLE_STATES:
        return False
    return session.execute(select(Evaluation.id).where(Evaluation.filing_id == filing.id)).first() is None


def parse_score(raw: object) -> int:
    """:raises InvalidInput: unless ``raw`` is a whole number from 1 to 5."""
    try:
        score = int(str(raw).strip())
    except ValueError:
        score = 0
    if not 1 <= score <= 5:
        raise InvalidInput("Elija una calificación del 1 al 5.", field="score")
    return score


def rate_attention(session: DbSession, *, folio: str, code: str, score: object, comment: str) -> Evaluation:
    """Record the filer's rating of ``folio`` and commit.

    :param code: the tracking code, which proves the rater is the filer.
    :raises NotFound: unknown folio or wrong code (alike).
    :raises InvalidInput: a score outside 1–5, or a filing not answered yet.
    :raises AlreadyRated: the filing was rated before.
    """
    filing = find_for_tracking(session, folio, code)
    if filing is None:
        raise NotFound("No encontramos un trámite con ese folio y código de seguimiento.")
    value = parse_score(score)
    if filing.status not in RATEABLE_STATES:
        raise InvalidInput("Podrá calificar la atención cuando su trámite tenga respuesta.", field="score")
    if not can_rate(session, filing):
        raise AlreadyRated()
    response = session.execute(
        select(Response).where(Response.filing_id == filing.id, Response.status == ResponseStatus.ISSUED)
        .order_by(Response.issued_at.desc(), Response.id.desc()).limit(1)).scalar_one_or_none()
    evaluation = Evaluation(filing_id=filing.id, response_id=response.id if response else None,
                            department_id=response.department_id if response else filing.department_id,
                            score=value, comment=(comment or "").strip()[:MAX_COMMENT], created_at=utcnow())
    session.add(evaluation)
    try:
        session.commit()
    except IntegrityError:  # rated at the same moment from another tab
        session.rollback()
        raise AlreadyRated() from None
    return evaluation
