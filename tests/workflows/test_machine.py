"""The state machine over every pair of state and action, against a table written independently here."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from workflows.errors import InvalidTransition, WorkflowError
from workflows.machine import TRANSITIONS, allowed_actions, apply, is_final, stops_clock
from workflows.states import ACTION_LABELS, STATE_LABELS, Action, FilingState

REC, ROU, INP, AWA, ANS, CON, REJ = (
    FilingState.RECEIVED, FilingState.ROUTED, FilingState.IN_PROGRESS, FilingState.AWAITING_FILER,
    FilingState.ANSWERED, FilingState.CONCLUDED, FilingState.REJECTED,
)

#: what DESIGN.md and issue 4 ask, state by state; a missing action must be refused
EXPECTED: dict[FilingState, dict[str, FilingState]] = {
    REC: {"route": ROU, "reject": REJ},
    ROU: {"route": ROU, "accept": INP, "forward": ROU, "copy": ROU, "return": REC, "reject": REJ},
    INP: {"accept": INP, "assign": INP, "forward": ROU, "copy": INP, "return": REC,
          "request_info": AWA, "answer": ANS, "conclude": CON},
    AWA: {"resume": INP, "assign": AWA, "copy": AWA},
    ANS: {"conclude": CON},
    CON: {},
    REJ: {},
}

ALL_PAIRS = list(itertools.product(FilingState, Action))


def test_the_expected_table_names_every_state_and_only_real_actions():
    assert set(EXPECTED) == set(FilingState)
    for actions in EXPECTED.values():
        assert set(actions) <= {a.value for a in Action}


def test_all_77_pairs_are_covered():
    assert len(ALL_PAIRS) == 7 * 11


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_every_state_action_pair(state: FilingState, action: Action):
    expected = EXPECTED[state].get(action.value)
    if expected is not None:
        assert apply(state, action) is expected
        return
    with pytest.raises(InvalidTransition) as caught:
        apply(state, action)
    err = caught.value
    assert isinstance(err, WorkflowError)
    assert err.http_status == 409
    assert err.code == "invalid_transition"
    assert (err.state, err.action) == (state, action)
    assert err.message == f"No se puede «{ACTION_LABELS[action]}» un escrito en estado «{STATE_LABELS[state]}»."
    assert str(err) == err.message


def test_transition_table_is_exactly_the_expected_one():
    expected = {(s, Action(a)): new for s, actions in EXPECTED.items() for a, new in actions.items()}
    assert dict(TRANSITIONS) == expected


def test_transition_table_is_read_only():
    with pytest.raises(TypeError):
        TRANSITIONS[(REC, Action.ACCEPT)] = INP  # type: ignore[index]


def test_invalid_transition_message_in_spanish():
    with pytest.raises(InvalidTransition, match="^No se puede «concluir» un escrito en estado «Recibido».$"):
        apply(REC, Action.CONCLUDE)
    with pytest.raises(InvalidTransition, match="«reanudar».*«Turnado»"):
        apply(ROU, Action.RESUME)


def test_action_values_are_the_api_contract():
    api = {"route", "accept", "assign", "forward", "copy", "return", "request_info", "resume", "reject", "conclude"}
    assert {a.value for a in Action} == api | {"answer"}
    assert set(ACTION_LABELS) == set(Action)
    assert ACTION_LABELS[Action.FORWARD] == "reasignar a otra área"
    assert ACTION_LABELS[Action.RETURN] == "devolver por no ser competencia"


@pytest.mark.parametrize("state", list(FilingState))
def test_allowed_actions_follow_the_table(state: FilingState):
    assert allowed_actions(state) == [a for a in Action if a.value in EXPECTED[state]]


@pytest.mark.parametrize("state", list(FilingState))
def test_clock_and_finality(state: FilingState):
    assert stops_clock(state) is (state is AWA)
    assert is_final(state) is (state in {CON, REJ})
    assert is_final(state) is (not allowed_actions(state))


def test_every_state_is_reachable_from_received_and_can_reach_an_end():
    def reachable(start: FilingState) -> set[FilingState]:
        seen, todo = {start}, [start]
        while todo:
            src = todo.pop()
            for action in allowed_actions(src):
                dst = apply(src, action)
                if dst not in seen:
                    seen.add(dst)
                    todo.append(dst)
        return seen

    assert reachable(REC) == set(FilingState)
    for state in FilingState:
        assert reachable(state) & {CON, REJ}


def test_a_filing_walks_two_departments_and_a_request_for_information():
    path = [Action.ROUTE, Action.ACCEPT, Action.FORWARD, Action.ACCEPT, Action.REQUEST_INFO,
            Action.RESUME, Action.ANSWER, Action.CONCLUDE]
    state = REC
    states = []
    for action in path:
        state = apply(state, action)
        states.append(state)
    assert states == [ROU, INP, ROU, INP, AWA, INP, ANS, CON]


def test_machine_and_calendar_do_not_import_flask_or_the_database():
    code = ("import sys, workflows.machine, workflows.calendar, workflows.errors;"
            "bad = {'flask', 'sqlalchemy', 'oficialia'} & {m.split('.')[0] for m in sys.modules};"
            "sys.exit(1 if bad else 0)")
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0
