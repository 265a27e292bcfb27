"""The workflow error tree.

Same shape as :class:`oficialia.errors.OficialiaError` (HTTP status and a stable code on the
class, a safe Spanish ``message`` on the instance) without importing it: ``workflows`` must not
depend on the mail-room package or on Flask. ``app.py`` registers one handler for the root.
"""

from __future__ import annotations

from typing import ClassVar

from .states import ACTION_LABELS, STATE_LABELS, Action, FilingState


class WorkflowError(Exception):
    """Root of the workflow errors.

    :param message: a safe message in Spanish, shown to the user as it is.
    """

    http_status: ClassVar[int] = 400
    #: stable machine-readable code for the JSON API
    code: ClassVar[str] = "workflow_error"
    default_message: ClassVar[str] = "No se pudo completar la acción."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidTransition(WorkflowError):
    """The action is not possible in the filing's current state; nothing was changed.

    :param state: the filing's current state.
    :param action: the action that was refused.
    """

    http_status = 409
    code = "invalid_transition"
    default_message = "La acción no es posible en el estado actual del escrito."

    def __init__(self, state: FilingState, action: Action) -> None:
        self.state = state
        self.action = action
        super().__init__(
            f"No se puede «{ACTION_LABELS[action]}» un escrito en estado «{STATE_LABELS[state]}»."
        )
