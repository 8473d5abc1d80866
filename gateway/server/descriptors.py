"""How many terminal connections the process's open-file limit lets it hold.

Every connection is a descriptor. A connection accepted past the limit fails inside the
event loop's accept (EMFILE), where nothing can say why; so the gateway raises its soft limit
toward the hard one at start (as Go's runtime does), and bounds ``max_connections`` by what
is left after ``RESERVED`` descriptors for everything else (gRPC, the event log, its readers,
log files). Connections past that bound are then refused by admission, counted and logged
like any other tripped limit.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Final

#: Descriptors the process needs besides terminal connections (gRPC, the store, logs, ...).
RESERVED: Final = 256


@dataclass(frozen=True, slots=True)
class OpenFiles:
    #: The soft limit once raised (as far as the hard limit allows).
    limit: int
    #: Terminal connections that fit under it: ``max_connections`` or fewer.
    connections: int


def plan(max_connections: int, soft: int, hard: int) -> OpenFiles:
    """The soft limit to ask for and the connections it leaves room for."""
    wanted = max_connections + RESERVED
    limit = soft
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    room = wanted if limit == resource.RLIM_INFINITY else limit - RESERVED
    return OpenFiles(limit, max(1, min(max_connections, room)))


def raise_for(max_connections: int) -> OpenFiles:
    """Raise this process's soft limit for ``max_connections`` and say what it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = plan(max_connections, soft, hard)
    if wanted.limit == soft:
        return wanted
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted.limit, hard))
    except (ValueError, OSError):
        return plan(max_connections, soft, soft)  # kept the old limit: bound by it
    return wanted  # the plan already is what the raised limit allows
