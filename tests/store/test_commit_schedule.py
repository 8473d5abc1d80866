"""When a log writer begins its next commit (``commit.CommitSchedule``): a decision on the
caller's clock, tested with made-up instants, so nothing here depends on the machine's speed."""

from __future__ import annotations

import pytest

from gateway.store.commit import COMMIT_WINDOW, FULL_COMMIT, CommitSchedule

WINDOW = 0.002


def test_the_first_commit_begins_at_once() -> None:
    assert CommitSchedule(WINDOW).delay(now=5.0, events=1) == 0.0


def test_a_commit_within_the_window_waits_for_its_end() -> None:
    schedule = CommitSchedule(WINDOW)
    schedule.begin(10.0)
    # Half a millisecond after the last one began: the rest of the window.
    assert schedule.delay(now=10.0005, events=3) == pytest.approx(0.0015)


def test_a_commit_after_the_window_begins_at_once() -> None:
    # Under a saturating load the last commit took longer than the window: no pause between
    # commits (group commit, the commit's own duration is the window).
    schedule = CommitSchedule(WINDOW)
    schedule.begin(10.0)
    assert schedule.delay(now=10.003, events=3) == 0.0
    # After a quiet spell too.
    assert schedule.delay(now=99.0, events=1) == 0.0


def test_a_full_commit_never_waits() -> None:
    schedule = CommitSchedule(WINDOW)
    schedule.begin(10.0)
    assert schedule.delay(now=10.0001, events=FULL_COMMIT - 1) > 0
    assert schedule.delay(now=10.0001, events=FULL_COMMIT) == 0.0
    assert CommitSchedule(WINDOW, full=8).delay(now=10.0, events=8) == 0.0


def test_the_window_counts_from_the_last_commit_begun() -> None:
    schedule = CommitSchedule(WINDOW)
    schedule.begin(10.0)
    schedule.begin(10.004)
    assert schedule.delay(now=10.005, events=1) == pytest.approx(0.001)


def test_window_zero_is_plain_group_commit() -> None:
    schedule = CommitSchedule(0.0)
    schedule.begin(10.0)
    assert schedule.delay(now=10.0, events=1) == 0.0


def test_the_default_window() -> None:
    assert CommitSchedule().window == COMMIT_WINDOW == 0.002
