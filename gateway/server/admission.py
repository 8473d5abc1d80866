"""Who gets a connection slot, so that floods of connections that never authenticate cannot
lock terminals out.

Three bounds: ``max_connections`` in all; ``max_unauthenticated`` of them not yet
authenticated (a connection that proved nothing holds a small slot of a small budget); and
``max_unauthenticated_per_address`` from one source address. A newcomer that finds the gateway
full (or the unauthenticated budget full) does not simply bounce: the oldest unauthenticated
connection that has had ``shed_after`` seconds to authenticate and is not waiting for the auth
backend is shed to make room. Slow-loris connections age and go first; a terminal that
authenticates within ``shed_after`` of connecting is never shed; authenticated terminals are
never shed. Only when nothing can be shed is a newcomer refused.

Pure bookkeeping: the gateway closes the connections this hands back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from .limitlog import LimitLog

#: Seconds an unauthenticated connection is safe from shedding: time to authenticate.
SHED_AFTER: Final = 5.0
#: The bound on one address's unauthenticated connections (shedding never lifts it).
PER_ADDRESS: Final = "max_unauthenticated_per_address"

C = TypeVar("C", bound=Hashable)


@dataclass(slots=True)
class _Pending:
    host: str
    since: float


class Admission(Generic[C]):
    def __init__(
        self,
        *,
        max_connections: int,
        max_unauthenticated: int,
        max_per_address: int,
        limits: LimitLog,
        busy: Callable[[C], bool],
        shed_after: float = SHED_AFTER,
    ) -> None:
        self.max_connections = max_connections
        self.max_unauthenticated = min(max_unauthenticated, max_connections)
        self.max_per_address = max_per_address
        self.shed_after = shed_after
        self._limits = limits
        self._busy = busy  # waiting for the auth backend: making progress, not idle
        self._all: set[C] = set()
        #: Unauthenticated connections, oldest first (dicts keep insertion order).
        self._pending: dict[C, _Pending] = {}
        self._per_address: dict[str, int] = {}

    def bound(self, max_connections: int) -> None:
        """Lower ``max_connections`` (the process can hold no more)."""
        self.max_connections = min(self.max_connections, max_connections)
        self.max_unauthenticated = min(self.max_unauthenticated, self.max_connections)

    @property
    def unauthenticated(self) -> int:
        return len(self._pending)

    def __len__(self) -> int:
        return len(self._all)

    def admit(self, connection: C, host: str, now: float) -> tuple[bool, list[C]]:
        """Whether ``connection`` (from ``host``) gets a slot, and the connections shed for it
        (already forgotten here: the caller closes them)."""
        bound, victim = self._room(host, now)
        if bound and victim is None:
            self._refused(bound, host)
            return False, []
        shed: list[C] = []
        if victim is not None:
            self.release(victim)
            shed.append(victim)
            self._limits.hit(
                "shed_unauthenticated",
                f"{bound} reached: shedding the oldest idle unauthenticated connections",
                max=getattr(self, bound),
            )
        self._all.add(connection)
        self._pending[connection] = _Pending(host, now)
        self._per_address[host] = self._per_address.get(host, 0) + 1
        return True, shed

    def _refused(self, bound: str, host: str) -> None:
        if bound == PER_ADDRESS:
            why, limit = (
                "too many unauthenticated connections from its address",
                self.max_per_address,
            )
        else:
            why, limit = (
                f"{bound} reached and no unauthenticated connection to shed",
                getattr(self, bound),
            )
        self._limits.hit(bound, f"connection refused: {why}", address=host, max=limit)

    def refusal(self, host: str, now: float) -> str:
        """The bound that would refuse a newcomer from ``host`` now (``""``: it would get a
        slot, perhaps by shedding). Changes nothing: asked before spending work on a
        connection (its TLS handshake), whose ``admit`` comes after."""
        bound, victim = self._room(host, now)
        return "" if victim is not None else bound

    def _room(self, host: str, now: float) -> tuple[str, C | None]:
        """The bound a newcomer from ``host`` meets (``""``: none), and the idle
        unauthenticated connection whose shedding would let it pass (None: nothing to shed,
        or a per-address bound, which shedding never lifts)."""
        if self._per_address.get(host, 0) >= self.max_per_address:
            return PER_ADDRESS, None
        full = self._full()
        return full, self._oldest_idle(now) if full else None

    def authenticated(self, connection: C) -> None:
        """``connection`` proved who it is: it leaves the unauthenticated budget."""
        pending = self._pending.pop(connection, None)
        if pending is not None:
            self._forget_address(pending.host)

    def release(self, connection: C) -> None:
        """``connection`` is gone (idempotent)."""
        self._all.discard(connection)
        self.authenticated(connection)

    def _full(self) -> str:
        """The bound a newcomer would pass (``""``: none)."""
        if len(self._all) >= self.max_connections:
            return "max_connections"
        if len(self._pending) >= self.max_unauthenticated:
            return "max_unauthenticated"
        return ""

    def _oldest_idle(self, now: float) -> C | None:
        for connection, pending in self._pending.items():
            if now - pending.since < self.shed_after:
                return None  # the rest are younger still
            if not self._busy(connection):
                return connection
        return None

    def _forget_address(self, host: str) -> None:
        count = self._per_address.get(host, 0) - 1
        if count > 0:
            self._per_address[host] = count
        else:
            self._per_address.pop(host, None)
