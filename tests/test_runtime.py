"""The interpreter knobs a run holds (smmsheet/runtime.py): set by the first holder, put
back by the last, never turned the other way."""

from __future__ import annotations

import gc
import sys
import threading

import pytest

from smmsheet.runtime import BULK_THRESHOLD, QUICK_TURN, few_collections, quick_turns


@pytest.fixture(autouse=True)
def _interpreter_as_found():
    """Whatever a failing test leaves, the next test finds the interpreter as it was."""
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*thresholds)


def test_a_knob_is_held_by_the_first_holder_and_given_back_by_the_last():
    before = gc.get_threshold()
    assert before[0] < BULK_THRESHOLD  # CPython's 700
    with few_collections():
        assert gc.get_threshold() == (BULK_THRESHOLD, *before[1:])
        with few_collections():
            assert gc.get_threshold()[0] == BULK_THRESHOLD
        assert gc.get_threshold()[0] == BULK_THRESHOLD  # the outer run is still going
    assert gc.get_threshold() == before


def test_holders_on_other_threads_overlap_without_ending_each_others_hold():
    before = sys.getswitchinterval()
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with quick_turns():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    with quick_turns():
        thread.start()
        assert entered.wait(5)
    assert sys.getswitchinterval() == QUICK_TURN  # this one ended first: the other holds
    leave.set()
    thread.join()
    assert sys.getswitchinterval() == before


def test_an_error_inside_gives_the_knob_back():
    before = sys.getswitchinterval()
    with pytest.raises(KeyError), quick_turns():
        raise KeyError("x")
    assert sys.getswitchinterval() == before
    with quick_turns():  # and the count is right for the next holder
        assert sys.getswitchinterval() == QUICK_TURN
    assert sys.getswitchinterval() == before


def test_a_setting_already_further_that_way_is_kept():
    sys.setswitchinterval(QUICK_TURN / 2)
    with quick_turns():
        assert sys.getswitchinterval() == QUICK_TURN / 2
    gc.set_threshold(5 * BULK_THRESHOLD, 10, 10)
    with few_collections():
        assert gc.get_threshold() == (5 * BULK_THRESHOLD, 10, 10)
    gc.set_threshold(0, 10, 10)  # collection switched off by its threshold: stays off
    with few_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


@pytest.mark.parametrize("step", ["_read", "_held", "_write"])
def test_a_ctrl_c_as_the_knob_is_taken_leaves_it_as_found(step, monkeypatch):
    """A SIGINT is raised when a builtin call returns: one that lands as the first holder
    has just set the switch interval (before it counted itself) left 1 ms turns for good,
    and the next holder took 1 ms for what it had found and "gave back" that."""
    before = sys.getswitchinterval()
    real = getattr(quick_turns, step)
    fired: list[bool] = []

    def interrupted(*args: object) -> object:
        result = real(*args)
        if not fired:
            fired.append(True)
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(quick_turns, step, interrupted)
    with pytest.raises(KeyboardInterrupt), quick_turns():
        pass
    assert fired
    assert sys.getswitchinterval() == before
    with quick_turns():  # and the next run gives back what was there before either
        assert sys.getswitchinterval() == QUICK_TURN
    assert sys.getswitchinterval() == before


def test_a_setting_someone_makes_while_a_run_holds_the_knob_is_theirs_to_keep():
    """Excel runs other code beside a run (an add-in, a macro, a formula): one that switched
    collection off (threshold 0) or set its own turns while a run held the knobs had them
    turned back when the run ended, to what the run had found before it."""
    before = sys.getswitchinterval()
    with quick_turns():
        sys.setswitchinterval(0.02)  # someone's own, while the run's requests fly
    assert sys.getswitchinterval() == pytest.approx(0.02)
    sys.setswitchinterval(before)
    with few_collections():
        gc.set_threshold(0, 10, 10)  # collection switched off by its threshold
    assert gc.get_threshold() == (0, 10, 10)
