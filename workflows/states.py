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
