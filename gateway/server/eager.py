"""Awaiting without a task when the answer is already there.

Most auth backends answer at once (``insecure-accept-all`` from a dict; a cache): wrapping each
call in a task and a timeout costs more than the call. ``start`` takes the first step of an
awaitable by hand: either it finishes there (its result, no task, no timer), or it suspends,
and ``resume`` goes on with it from where it stopped, inside whatever task awaits ``resume``
(with a deadline of its own). ``hand_over`` is how a coroutine driven by hand (``send(None)``)
says "go on in a task": it yields nothing, which a task treats as a plain reschedule, so it is
harmless if the coroutine is already in one.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Suspended(Generic[T]):
    """An awaitable stopped after its first step, and what that step yielded."""

    steps: Generator[Any, Any, T]
    yielded: Any


def start(awaitable: Awaitable[T]) -> tuple[T, None] | tuple[None, Suspended[T]]:
    """Run ``awaitable`` up to its first suspension: ``(result, None)`` when it finished
    without one, ``(None, suspended)`` when it must be resumed (``resume``). Its exceptions
    propagate as they are."""
    steps = awaitable.__await__()
    try:
        yielded = steps.send(None)
    except StopIteration as finished:
        return finished.value, None
    return None, Suspended(steps, yielded)


@types.coroutine
def resume(suspended: Suspended[T]) -> Generator[Any, Any, T]:
    """Await the rest of ``suspended``: what it waits for is handed to the awaiting task, the
    task's answers and exceptions (a cancellation, a timeout) are passed back into it."""
    steps, yielded = suspended.steps, suspended.yielded
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as error:
            try:
                yielded = steps.throw(error)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
        else:
            try:
                yielded = steps.send(sent)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]


@types.coroutine
def hand_over() -> Generator[None, None, None]:
    """Suspend once with nothing awaited: a coroutine driven by hand stops here and is given
    to a task (see ``start``); one already in a task is merely rescheduled."""
    yield None
