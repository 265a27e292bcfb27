"""The filing's state machine: one table and one pure function.

:data:`TRANSITIONS` says, for every ``(state, action)`` that is allowed, the state the filing is in
afterwards; every pair not in the table is refused with :class:`~workflows.errors.InvalidTransition`.
Nothing here touches the database: ``routing.py`` calls :func:`apply` and writes the new state and
the logbook entry in one transaction.

The state is the filing's, not a department's: with several departments at once, each routing
(turno) has its own status in ``routing.py``; this table only says what the filing as a whole may do.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .errors import InvalidTransition
from .states import Action, FilingState

S = FilingState
A = Action

#: every allowed ``(state, action) -> new state``; anything else is an invalid transition
TRANSITIONS: Mapping[tuple[FilingState, Action], FilingState] = MappingProxyType({
    # --- received: in the mail-room, no department has it yet ---
    # the clerk routes it to the competent department(s)
    (S.RECEIVED, A.ROUTE): S.ROUTED,
    # not admissible at the window (incomplete, anonymous where the law asks a name...)
    (S.RECEIVED, A.REJECT): S.REJECTED,

    # --- routed: sent to one or more departments that have not accepted it yet ---
    # routing to further departments at once, each with its own instruction and deadline
    (S.ROUTED, A.ROUTE): S.ROUTED,
    # the department acknowledges receipt and starts attending it
    (S.ROUTED, A.ACCEPT): S.IN_PROGRESS,
    # the department sends it straight on to the competent one, which must accept it in turn
    (S.ROUTED, A.FORWARD): S.ROUTED,
    # a copy for knowledge gives read access only; the state does not move
    (S.ROUTED, A.COPY): S.ROUTED,
    # not competent: back to the mail-room to be routed again
    (S.ROUTED, A.RETURN): S.RECEIVED,
    # not admissible, found on the department's first reading
    (S.ROUTED, A.REJECT): S.REJECTED,

    # --- in_progress: a department is attending it; the clock runs ---
    # a second department of a multi-department routing acknowledges its own turn
    (S.IN_PROGRESS, A.ACCEPT): S.IN_PROGRESS,
    # who in the department attends it; the department, and so the state, stay
    (S.IN_PROGRESS, A.ASSIGN): S.IN_PROGRESS,
    # it moves to another department, which has not accepted it yet: routed again
    (S.IN_PROGRESS, A.FORWARD): S.ROUTED,
    # a copy for knowledge does not change who attends it
    (S.IN_PROGRESS, A.COPY): S.IN_PROGRESS,
    # not competent after all: back to the mail-room
    (S.IN_PROGRESS, A.RETURN): S.RECEIVED,
    # the filer must supply missing information: the clock stops
    (S.IN_PROGRESS, A.REQUEST_INFO): S.AWAITING_FILER,
    # a signed response is issued
    (S.IN_PROGRESS, A.ANSWER): S.ANSWERED,
    # closed without a formal response (attended on site, the filer desisted...)
    (S.IN_PROGRESS, A.CONCLUDE): S.CONCLUDED,

    # --- awaiting_filer: the clock is stopped until the filer answers ---
    # the filer's answer arrived (or staff resume it): the clock runs again
    (S.AWAITING_FILER, A.RESUME): S.IN_PROGRESS,
    # the assignee may change while waiting (leave, rotation); the clock stays stopped
    (S.AWAITING_FILER, A.ASSIGN): S.AWAITING_FILER,
    # a copy for knowledge does not change the state nor restart the clock
    (S.AWAITING_FILER, A.COPY): S.AWAITING_FILER,
    # forward/return/answer/conclude need the clock running again: resume first

    # --- answered: the signed response was issued ---
    # the file is closed once the response is delivered
    (S.ANSWERED, A.CONCLUDE): S.CONCLUDED,

    # --- concluded, rejected: final, nothing moves them ---
})

#: states no action leaves
FINAL_STATES: frozenset[FilingState] = frozenset({S.CONCLUDED, S.REJECTED})

#: states in which the response deadline does not run (it is shifted on ``resume``)
CLOCK_STOPPED_STATES: frozenset[FilingState] = frozenset({S.AWAITING_FILER})


def apply(state: FilingState, action: Action) -> FilingState:
    """The state a filing is in after ``action``.

    :param state: the filing's current state.
    :param action: the action being applied.
    :returns: the new state (it may equal ``state``: ``copy``, ``assign``...).
    :raises InvalidTransition: the action is not possible in ``state``; its message says so in
        Spanish.
    """
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise InvalidTransition(state, action) from None


def allowed_actions(state: FilingState) -> list[Action]:
    """The actions possible in ``state``, in :class:`Action` order, for the UI to offer."""
    return [action for action in Action if (state, action) in TRANSITIONS]


def stops_clock(state: FilingState) -> bool:
    """Whether the response deadline is stopped in ``state`` (waiting for the filer)."""
    return state in CLOCK_STOPPED_STATES


def is_final(state: FilingState) -> bool:
    """Whether ``state`` is final (concluded or rejected): no action leaves it."""
    return state in FINAL_STATES
