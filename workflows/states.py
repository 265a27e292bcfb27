"""The states a filing goes through and the actions that move it."""

from __future__ import annotations

from enum import StrEnum


class FilingState(StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    AWAITING_FILER = "awaiting_filer"
    ANSWERED = "answered"
    CONCLUDED = "concluded"
    REJECTED = "rejected"


#: what the public tracking page says for each state
STATE_LABELS: dict[FilingState, str] = {
    FilingState.RECEIVED: "Recibido",
    FilingState.ROUTED: "Turnado",
    FilingState.IN_PROGRESS: "En atención",
    FilingState.AWAITING_FILER: "En espera de información del solicitante",
    FilingState.ANSWERED: "Respondido",
    FilingState.CONCLUDED: "Concluido",
    FilingState.REJECTED: "No admitido",
}


class Action(StrEnum):
    """What a person can do to a filing; each applied action is one row in the logbook.

    The values are the ``action`` of ``POST /api/v1/filings/<folio>/actions``. ``answer`` is not
    sent to that endpoint: it is applied when a signed response is issued.
    """

    ROUTE = "route"
    ACCEPT = "accept"
    ASSIGN = "assign"
    FORWARD = "forward"
    COPY = "copy"
    RETURN = "return"
    REQUEST_INFO = "request_info"
    RESUME = "resume"
    REJECT = "reject"
    CONCLUDE = "conclude"
    ANSWER = "answer"


#: the verb the UI shows for each action (and that error messages quote)
ACTION_LABELS: dict[Action, str] = {
    Action.ROUTE: "turnar",
    Action.ACCEPT: "recibir en el área",
    Action.ASSIGN: "asignar",
    Action.FORWARD: "reasignar a otra área",
    Action.COPY: "marcar copia para conocimiento",
    Action.RETURN: "devolver por no ser competencia",
    Action.REQUEST_INFO: "solicitar información al solicitante",
    Action.RESUME: "reanudar",
    Action.REJECT: "no admitir",
    Action.CONCLUDE: "concluir",
    Action.ANSWER: "responder",
}
