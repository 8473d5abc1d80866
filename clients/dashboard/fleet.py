"""What the dashboard knows about the terminals, and what changed since the page last heard.

``Fleet`` folds the gateway's live positions, session events and session lists into one record
per terminal (last position, recent track, online or not) and keeps the set of terminals that
changed. The server sends those changes to every page in one batch a few times a second
(``take_changes``), so thousands of terminals reporting every second cost a page a handful of
messages, not thousands. Everything is bounded: the track points per terminal and the number of
terminals (the offline one heard from least recently goes first).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from gateway.protocol.bodies.location import alarm_names, status_names
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import location_pb2

#: Recent positions kept per terminal for its track on the map.
TRACK_POINTS: Final = 50
#: Terminals kept at most; beyond, the least recently heard offline terminal is forgotten.
MAX_TERMINALS: Final = 50_000
#: Event kinds that say whether a terminal is online.
ONLINE_EVENTS: Final = frozenset({api.EVENT_KIND_AUTHENTICATED})
OFFLINE_EVENTS: Final = frozenset({api.EVENT_KIND_DISCONNECTED, api.EVENT_KIND_LOGGED_OUT})

Point = tuple[float, float]


@dataclass(slots=True)
class Terminal:
    """One terminal as the page shows it."""

    phone: str
    device_name: str = ""
    online: bool = False
    latitude: float | None = None
    longitude: float | None = None
    #: The fix time the terminal reported (ISO 8601), and when the gateway received it.
    time: str | None = None
    received: str | None = None
    speed_kmh: float = 0.0
    direction: int = 0
    alarm_flags: int = 0
    status_flags: int = 0
    track: deque[Point] = field(default_factory=lambda: deque(maxlen=TRACK_POINTS))
    #: Track points not yet sent to the pages.
    new_points: list[Point] = field(default_factory=list)
    #: Position in the order of updates (for eviction).
    touched: int = 0

    def view(self, *, whole_track: bool) -> dict[str, Any]:
        """The JSON the page reads: the whole track for a snapshot, new points for an update."""
        points = list(self.track) if whole_track else self.new_points
        return {
            "phone": self.phone,
            "device_name": self.device_name,
            "online": self.online,
            "lat": self.latitude,
            "lon": self.longitude,
            "time": self.time,
            "received": self.received,
            "speed": round(self.speed_kmh, 1),
            "direction": self.direction,
            "alarms": alarm_names(self.alarm_flags),
            "status": status_names(self.status_flags),
            "points": [[round(lat, 6), round(lon, 6)] for lat, lon in points],
            "whole_track": whole_track,
        }


class Fleet:
    def __init__(self, *, max_terminals: int = MAX_TERMINALS) -> None:
        self.terminals: dict[str, Terminal] = {}
        self.max_terminals = max_terminals
        self._changed: set[str] = set()
        self._clock = 0
        #: The gateway connection as the page should show it ("" when connected).
        self.gateway_problem = "connecting to the gateway"
        self._status_changed = False

    def _terminal(self, phone: str) -> Terminal:
        terminal = self.terminals.get(phone)
        if terminal is None:
            self._make_room()
            terminal = self.terminals[phone] = Terminal(phone)
        self._clock += 1
        terminal.touched = self._clock
        self._changed.add(phone)
        return terminal

    def _make_room(self) -> None:
        if len(self.terminals) < self.max_terminals:
            return
        offline = [t for t in self.terminals.values() if not t.online]
        victim = min(offline or self.terminals.values(), key=lambda t: t.touched)
        del self.terminals[victim.phone]
        self._changed.discard(victim.phone)

    # ---- what the gateway says ---------------------------------------------------------------

    def add_location(self, location: location_pb2.Location) -> None:
        terminal = self._terminal(location.phone)
        if location.device_name:
            terminal.device_name = location.device_name
        terminal.online = True
        point = (location.latitude, location.longitude)
        terminal.latitude, terminal.longitude = point
        terminal.time = _iso(location.time) if location.HasField("time") else None
        terminal.received = (
            _iso(location.received_time) if location.HasField("received_time") else None
        )
        terminal.speed_kmh = location.speed_kmh
        terminal.direction = location.direction
        terminal.alarm_flags = location.alarm_flags
        terminal.status_flags = location.status_flags
        if not terminal.track or terminal.track[-1] != point:
            terminal.track.append(point)
            terminal.new_points.append(point)
            del terminal.new_points[:-TRACK_POINTS]

    def add_event(self, event: api.Event) -> None:
        if event.kind not in ONLINE_EVENTS | OFFLINE_EVENTS:
            return
        terminal = self._terminal(event.phone)
        terminal.online = event.kind in ONLINE_EVENTS
        if event.device_name:
            terminal.device_name = event.device_name

    def sync_sessions(self, sessions: list[api.Session]) -> None:
        """The gateway's session list is the truth on who is online (events may be missed
        while the stream reconnects)."""
        online = {session.phone: session for session in sessions}
        for phone, terminal in self.terminals.items():
            if terminal.online and phone not in online:
                terminal.online = False
                self._changed.add(phone)
        for phone, session in online.items():
            known = self.terminals.get(phone)
            if known is None or not known.online or known.device_name != session.device_name:
                terminal = self._terminal(phone)
                terminal.online = True
                terminal.device_name = session.device_name or terminal.device_name

    def set_gateway_problem(self, problem: str) -> None:
        if problem != self.gateway_problem:
            self.gateway_problem = problem
            self._status_changed = True

    # ---- what the pages get ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "gateway_problem": self.gateway_problem,
            "terminals": [t.view(whole_track=True) for t in self.terminals.values()],
        }

    def take_changes(self) -> dict[str, Any] | None:
        """The terminals changed since the last call (``None`` when nothing did). A page that
        joins gets ``snapshot()`` right after this call, so no track point reaches it twice."""
        if not self._changed and not self._status_changed:
            return None
        self._status_changed = False
        views = []
        for phone in self._changed:
            terminal = self.terminals.get(phone)
            if terminal is not None:
                views.append(terminal.view(whole_track=False))
                terminal.new_points = []
        self._changed = set()
        return {"type": "update", "gateway_problem": self.gateway_problem, "terminals": views}


def _iso(stamp: Any) -> str:
    moment: datetime = stamp.ToDatetime(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")
