"""The load generator: N simulated terminals over TCP (or TLS), on anyio.

Each terminal is a ``SimulatedTerminal`` (the sans-I/O core) on an asyncio transport: the
protocol's ``data_received`` feeds the platform's bytes to the core and writes the core's answers
at once (no reader task, no lock: a write is one synchronous call, and only a full write buffer
makes a writer wait). Two tasks drive it: a reporter that sends location reports at ``rate`` a
second (or, with ``rate`` 0, as fast as acknowledgements allow, keeping at most ``window``
reports unacknowledged), and a heartbeat that sends 0x0002 when the link has been quiet for
``heartbeat`` seconds.

Connections are spread out: terminal ``i`` starts ``i / connect_rate`` seconds after the run,
and at most ``connect_concurrency`` of them are connecting or logging in at any moment, so a
thousand terminals never open a thousand sockets in the same millisecond.

Every run is bounded: each terminal sends at most ``count`` reports and stops sending after
``duration`` seconds (at least one of them is set), every wait for an acknowledgement gives up
after ``ack_timeout`` seconds, and connecting and logging in after ``connect_timeout``. After its
last report a terminal waits up to ``ack_timeout`` for what is still unacknowledged, then
disconnects.

``Simulation.run`` returns a ``SimulationSummary``; progress (one line a second) goes to the
``progress`` callback. Latency percentiles are of report acknowledgements (0x0200/0x0704 sent →
its 0x8001 read), measured on this side.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Final, cast

import anyio
import anyio.abc

from gateway.protocol.bodies.location import LocationBatch
from gateway.protocol.ids import MessageId
from gateway.protocol.subpackage import PartialMessageDropped
from gateway.protocol.versions import V2013, ProtocolVersion
from gateway.registry import Device

from .stats import RunStats
from .terminal import (
    AckMissing,
    Acknowledged,
    Authenticated,
    AuthenticationRefused,
    CommandReplied,
    LinkState,
    MissingReason,
    PlatformMessageRejected,
    Registered,
    RegistrationRefused,
    SimulatedTerminal,
    TerminalEvent,
    TerminalProfile,
    UploadCompleted,
    device_profile,
    fleet_profile,
)
from .tls import TlsClientSettings
from .track import Track, TrackSpec

MAX_TERMINALS: Final = 100_000
MAX_WINDOW: Final = 4096
MAX_BATCH: Final = 1000
#: Messages a terminal sends at once when it is behind its rate (the rest of the debt is dropped).
MAX_BURST: Final = 64
#: Seconds between reconnection attempts of one terminal.
RECONNECT_BACKOFF_S: Final = 1.0
PROGRESS_INTERVAL_S: Final = 1.0
#: Longest sleep of a terminal's timer task (it wakes earlier for heartbeats and deadlines).
IDLE_WAKE_S: Final = 60.0
_REPORT_IDS: Final = frozenset({MessageId.LOCATION_REPORT, MessageId.LOCATION_BATCH})


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate; ``jt808 simulate`` flags map one to one onto these fields."""

    host: str = "127.0.0.1"
    port: int = 7999
    terminals: int = 10
    version: ProtocolVersion = V2013
    #: Reports a second per terminal; 0 sends as fast as acknowledgements allow (``window``).
    rate: float = 10.0
    #: Report messages a terminal keeps unacknowledged at most when ``rate`` is 0.
    window: int = 8
    #: Reports per terminal (items of batches counted one by one); ``None``: until ``duration``.
    count: int | None = 100
    #: Seconds after the start of the run when terminals stop sending; ``None``: until ``count``.
    duration: float | None = None
    #: Seconds of silence after which a terminal sends 0x0002; 0 sends none.
    heartbeat: float = 30.0
    #: Reports per 0x0704 batch; 0 sends single 0x0200 reports.
    batch: int = 0
    blind_area: bool = False
    #: Bytes of one 0x0801 photo each terminal uploads after logging in; 0 uploads none.
    upload_size: int = 0
    phone_start: int = 13_800_000_000
    manufacturer: str = "SIM"
    model: str = "SIM-TK"
    #: A known auth code: terminals authenticate with it instead of registering first.
    auth_code: str | None = None
    connect_rate: float = 200.0
    connect_concurrency: int = 64
    connect_timeout: float = 10.0
    ack_timeout: float = 10.0
    reconnect: bool = False
    max_reconnects: int = 3
    #: Devices of a gateway's registry: terminal ``i`` registers as ``devices[i]`` (with its
    #: phone and plate where it pins them) instead of as a made-up fleet member.
    devices: tuple[Device, ...] = ()
    #: TLS to the gateway's --tls-listen (None: plain TCP).
    tls: TlsClientSettings | None = None
    #: Terminals with real RSA keys that encrypt their bodies once keys are exchanged.
    rsa: bool = False
    #: The fleet index of this run's first terminal: a run split over processes gives each
    #: its share of one fleet (phones, identities and tracks as in a single process).
    first_index: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.terminals <= MAX_TERMINALS:
            raise ValueError(f"terminals must be 1..{MAX_TERMINALS}")
        if not 0 <= self.first_index <= MAX_TERMINALS - self.terminals:
            raise ValueError(f"first_index must be 0..{MAX_TERMINALS - self.terminals}")
        if self.devices and self.first_index + self.terminals > len(self.devices):
            raise ValueError(
                f"{self.terminals} terminals need as many devices; {len(self.devices)} given"
            )
        if self.count is None and self.duration is None:
            raise ValueError("a run needs a bound: count, duration or both")
        if self.count is not None and self.count < 0:
            raise ValueError("count cannot be negative")
        if self.duration is not None and not self.duration > 0:
            raise ValueError("duration must be positive")
        if not (self.rate >= 0 and math.isfinite(self.rate)):
            raise ValueError("rate must be 0 (as fast as acknowledgements allow) or positive")
        if not 1 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window must be 1..{MAX_WINDOW}")
        if not 0 <= self.batch <= MAX_BATCH:
            raise ValueError(f"batch must be 0..{MAX_BATCH}")
        if self.batch and self.version < LocationBatch.SINCE:
            raise ValueError(f"0x0704 batches do not exist in JT/T 808-{self.version}")
        if self.blind_area and not self.batch:
            raise ValueError("blind-area reports are 0x0704 batches: give a batch size too")
        for name in ("heartbeat", "connect_timeout", "ack_timeout", "connect_rate"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0")
        if self.connect_rate <= 0 or self.connect_timeout <= 0 or self.ack_timeout <= 0:
            raise ValueError("connect_rate, connect_timeout and ack_timeout must be positive")
        if self.connect_concurrency < 1 or self.max_reconnects < 0:
            raise ValueError("connect_concurrency >= 1 and max_reconnects >= 0")
        if self.upload_size < 0:
            raise ValueError("upload_size cannot be negative")
        if self.phone_start < 0:
            raise ValueError("phone_start cannot be negative")
        # Every terminal's identity must fit its revision: each device's, or (made up alike)
        # the first and the last of the fleet.
        for index in self.indices if self.devices else {self.indices[0], self.indices[-1]}:
            self.profile(index)

    @property
    def indices(self) -> range:
        """Fleet indices of this run's terminals."""
        return range(self.first_index, self.first_index + self.terminals)

    def profile(self, index: int) -> TerminalProfile:
        """The identity of terminal ``index``; ``ValueError`` when it does not fit."""
        if self.devices:
            return device_profile(
                self.devices[index], index, version=self.version, phone_start=self.phone_start
            )
        return fleet_profile(
            index,
            version=self.version,
            phone_start=self.phone_start,
            manufacturer=self.manufacturer,
            model=self.model,
        )

    @property
    def server(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """The figures of a finished run (``as_json`` is the ``--json`` document)."""

    config: SimulationConfig
    stats: RunStats
    elapsed_s: float
    reporting_s: float
    interrupted: bool = False
    #: Monotonic times of the first report sent and the last acknowledgement read (runs in
    #: several processes are merged on them: the clock is the system's).
    first_report_at: float | None = None
    last_ack_at: float | None = None

    @property
    def throughput(self) -> float:
        """Acknowledged reports a second, over the time from the first report sent to the
        last acknowledgement read."""
        return self.stats.reports_acked / self.reporting_s if self.reporting_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every terminal authenticated, every report and upload acknowledged, no errors."""
        stats = self.stats
        return (
            not self.interrupted
            and stats.authenticated == stats.terminals
            and stats.reports_acked == stats.reports_sent
            and stats.uploads_completed == stats.uploads_started
            and not stats.errors
        )

    def as_json(self) -> dict[str, object]:
        stats = self.stats
        config = self.config
        return {
            "ok": self.ok,
            "interrupted": self.interrupted,
            "server": config.server,
            "version": int(config.version),
            "terminals": stats.terminals,
            "connected": stats.connected,
            "registered": stats.registered,
            "authenticated": stats.authenticated,
            "reconnects": stats.reconnects,
            "reports_sent": stats.reports_sent,
            "reports_acked": stats.reports_acked,
            "reports_unacked": stats.reports_sent - stats.reports_acked,
            "report_messages_sent": stats.report_messages_sent,
            "report_messages_acked": stats.report_messages_acked,
            "heartbeats_sent": stats.heartbeats_sent,
            "heartbeats_acked": stats.heartbeats_acked,
            "uploads_started": stats.uploads_started,
            "uploads_completed": stats.uploads_completed,
            "commands_answered": stats.commands_answered,
            "ack_latency_ms": {**stats.latency.summary_ms(), "count": stats.latency.count},
            "elapsed_s": round(self.elapsed_s, 3),
            "reporting_s": round(self.reporting_s, 3),
            "throughput_reports_per_s": round(self.throughput, 1),
            "bytes_sent": stats.bytes_sent,
            "bytes_received": stats.bytes_received,
            "errors": dict(sorted(stats.errors.items())),
            "settings": {
                "rate": config.rate,
                "window": config.window,
                "count": config.count,
                "duration": config.duration,
                "batch": config.batch,
                "blind_area": config.blind_area,
                "heartbeat": config.heartbeat,
                "upload_size": config.upload_size,
            },
        }

    def text(self) -> str:
        """A block of text for people."""
        stats = self.stats
        latency = stats.latency.summary_ms()
        lines = [
            f"jt808 simulate: {stats.terminals} terminals, JT/T 808-{int(self.config.version)}, "
            f"server {self.config.server}" + (" (interrupted)" if self.interrupted else ""),
            f"  terminals   connected {stats.connected}  registered {stats.registered}  "
            f"authenticated {stats.authenticated}  reconnects {stats.reconnects}",
            f"  reports     sent {stats.reports_sent}  acked {stats.reports_acked}  "
            f"unacked {stats.reports_sent - stats.reports_acked}  "
            f"(messages {stats.report_messages_sent}/{stats.report_messages_acked})",
            f"  heartbeats  sent {stats.heartbeats_sent}  acked {stats.heartbeats_acked}",
        ]
        if stats.uploads_started:
            lines.append(
                f"  uploads     started {stats.uploads_started}  "
                f"completed {stats.uploads_completed}"
            )
        lines += [
            f"  ack latency p50 {latency['p50']} ms  p90 {latency['p90']} ms  "
            f"p99 {latency['p99']} ms  max {latency['max']} ms  ({stats.latency.count} acks)",
            f"  throughput  {self.throughput:.1f} reports/s over {self.reporting_s:.2f} s "
            f"(run {self.elapsed_s:.2f} s)",
            "  errors      "
            + (", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())) or "none"),
            f"  result      {'OK' if self.ok else 'INCOMPLETE'}",
        ]
        return "\n".join(lines) + "\n"


class _Outcome(Enum):
    DONE = "done"  # everything sent and settled
    FAILED = "failed"  # refused by the platform: trying again would not help
    RETRY = "retry"  # the connection failed or dropped: a reconnection may finish the work


@dataclass(slots=True)
class _Plan:
    """What one terminal still has to do, across its connections."""

    remaining: int | None  # reports; None: until the duration is over
    upload_pending: bool
    ever_connected: bool = False
    ever_registered: bool = False
    ever_authenticated: bool = False


@dataclass(slots=True)
class _Wakeup:
    """A level-triggered wake-up for one task (an anyio.Event renewed after each wait)."""

    event: anyio.Event = field(default_factory=anyio.Event)

    def set(self) -> None:
        self.event.set()

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(max(0.0, timeout)):
            await self.event.wait()
        self.event = anyio.Event()


class Simulation:
    """One load run; see the module docstring."""

    def __init__(
        self,
        config: SimulationConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.wall_clock = wall_clock
        self.progress = progress
        self.stats = RunStats(terminals=config.terminals)
        self.terminals: list[SimulatedTerminal] = []
        self._login_slots = anyio.CapacityLimiter(config.connect_concurrency)
        self._started = 0.0
        self._stop_sending_at = math.inf
        self._stopping = False
        self._first_report_at: float | None = None
        self._last_ack_at: float | None = None

    def stop(self) -> None:
        """Stop sending reports (terminals still wait for what is unacknowledged)."""
        self._stopping = True

    @property
    def sending_over(self) -> bool:
        return self._stopping or self.clock() >= self._stop_sending_at

    async def run(self) -> SimulationSummary:
        config = self.config
        self._started = started = self.clock()
        if config.duration is not None:
            self._stop_sending_at = started + config.duration
        async with anyio.create_task_group() as outer:
            if self.progress is not None:
                outer.start_soon(self._progress_loop)
            async with anyio.create_task_group() as fleet:
                for index in config.indices:
                    start_at = started + (index - config.first_index) / config.connect_rate
                    fleet.start_soon(self._run_terminal, index, start_at)
            outer.cancel_scope.cancel()
        return self.summary()

    def summary(self) -> SimulationSummary:
        now = self.clock()
        reporting = 0.0
        if self._first_report_at is not None and self._last_ack_at is not None:
            reporting = max(0.0, self._last_ack_at - self._first_report_at)
        return SimulationSummary(
            self.config,
            self.stats,
            now - self._started,
            reporting,
            interrupted=self._stopping,
            first_report_at=self._first_report_at,
            last_ack_at=self._last_ack_at,
        )

    def progress_line(self) -> str:
        stats = self.stats
        elapsed = self.clock() - self._started
        latency = stats.latency
        rate = stats.reports_acked / elapsed if elapsed > 0 else 0.0
        return (
            f"{elapsed:6.1f}s  online {stats.online}/{stats.terminals}  "
            f"reports {stats.reports_sent} sent {stats.reports_acked} acked ({rate:.0f}/s)  "
            f"ack p50 {latency.percentile(50) * 1000:.1f} ms p99 "
            f"{latency.percentile(99) * 1000:.1f} ms  errors {stats.error_count}"
        )

    async def _progress_loop(self) -> None:
        assert self.progress is not None
        while True:
            await anyio.sleep(PROGRESS_INTERVAL_S)
            self.progress(self.progress_line())

    # ----------------------------------------------------------------------------------------
    # One terminal

    async def _run_terminal(self, index: int, start_at: float) -> None:
        config = self.config
        await anyio.sleep(max(0.0, start_at - self.clock()))
        profile = config.profile(index)
        terminal = SimulatedTerminal(
            profile,
            now=self.clock(),
            started_at=self.wall_clock(),
            track=Track(TrackSpec.for_vehicle(index)),
            auth_code=config.auth_code,
            heartbeat_interval_s=round(config.heartbeat) or 30,
            rsa=config.rsa,
        )
        self.terminals.append(terminal)
        plan = _Plan(remaining=config.count, upload_pending=config.upload_size > 0)
        attempts = 0
        while True:
            outcome = await self._handle_connection(terminal, plan)
            out_of_work = self.sending_over and not plan.upload_pending
            if outcome is not _Outcome.RETRY or out_of_work:
                break
            if not config.reconnect or attempts >= config.max_reconnects:
                break
            attempts += 1
            self.stats.reconnects += 1
            await anyio.sleep(RECONNECT_BACKOFF_S)
        self.stats.finished += 1

    async def _handle_connection(self, terminal: SimulatedTerminal, plan: _Plan) -> _Outcome:
        config = self.config
        stats = self.stats
        await self._login_slots.acquire()
        holding = True
        try:
            stats.connect_attempts += 1
            try:
                context = None if config.tls is None else config.tls.context_for(terminal.phone)
            except ValueError:  # this terminal's certificate files cannot be used
                stats.error("tls_client_certificate")
                return _Outcome.FAILED
            link = _Link(self, terminal, plan)
            try:
                with anyio.fail_after(config.connect_timeout):
                    await self._connect(link, context)
            except ssl.SSLError:  # before OSError, which it is
                stats.error("tls_handshake_failed")
                return _Outcome.RETRY
            except (OSError, TimeoutError):
                stats.error("connect_failed")
                return _Outcome.RETRY
            if not plan.ever_connected:
                plan.ever_connected = True
                stats.connected += 1
            try:
                async with anyio.create_task_group() as tasks:
                    link.scope = tasks.cancel_scope
                    online = await link.login()
                    self._login_slots.release()
                    holding = False
                    if online:
                        tasks.start_soon(link.heartbeat_loop)
                        await link.report()
                        await link.drain()
                    link.finishing = True  # nothing new may be queued while the tasks wind down
                    tasks.cancel_scope.cancel()
            finally:
                link.close_transport()
            return link.finish()
        finally:
            if holding:
                self._login_slots.release()

    async def _connect(self, link: _Link, context: ssl.SSLContext | None) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        if config.tls is None or context is None:
            await loop.create_connection(lambda: link, config.host, config.port)
            return
        await loop.create_connection(
            lambda: link,
            config.host,
            config.port,
            ssl=context,
            server_hostname=config.tls.server_name or config.host,
            ssl_handshake_timeout=config.connect_timeout,
        )

    # ----------------------------------------------------------------------------------------
    # Events of all terminals land here (one event loop: no locks needed)

    def note(self, events: list[TerminalEvent], plan: _Plan) -> None:
        stats = self.stats
        for event in events:
            if isinstance(event, Acknowledged):
                if event.msg_id in _REPORT_IDS:
                    self._last_ack_at = self.clock()
                    if event.reports:
                        stats.latency.add(event.latency)
                    if event.accepted:
                        stats.reports_acked += event.reports
                        stats.report_messages_acked += 1 if event.reports else 0
                elif event.msg_id == MessageId.HEARTBEAT and event.accepted:
                    stats.heartbeats_acked += 1
                if not event.accepted:
                    stats.error(f"refused_0x{event.msg_id:04x}")
            elif isinstance(event, AckMissing):
                if event.reason is MissingReason.DISCONNECTED:
                    stats.error("unacked_at_disconnect")
                else:
                    stats.error(f"ack_{event.reason.value}")
            elif isinstance(event, Registered):
                if not plan.ever_registered:
                    plan.ever_registered = True
                    stats.registered += 1
            elif isinstance(event, Authenticated):
                stats.online += 1
                if not plan.ever_authenticated:
                    plan.ever_authenticated = True
                    stats.authenticated += 1
            elif isinstance(event, RegistrationRefused):
                stats.error("registration_refused")
            elif isinstance(event, AuthenticationRefused):
                if not event.registering_again:
                    stats.error("authentication_refused")
            elif isinstance(event, UploadCompleted):
                stats.uploads_completed += 1
                plan.upload_pending = False
            elif isinstance(event, CommandReplied):
                stats.commands_answered += 1
            elif isinstance(event, PlatformMessageRejected):
                stats.error("bad_platform_message")
            elif isinstance(event, PartialMessageDropped):
                stats.error("platform_command_incomplete")

    def report_sent(self, reports: int, messages: int) -> None:
        if self._first_report_at is None:
            self._first_report_at = self.clock()
        self.stats.reports_sent += reports
        self.stats.report_messages_sent += messages


class _Link(asyncio.Protocol):
    """One connection of one terminal: the asyncio protocol of its transport (bytes in are
    handled as they come, answers written at once), and the loops that send on it."""

    def __init__(self, simulation: Simulation, terminal: SimulatedTerminal, plan: _Plan) -> None:
        self.simulation = simulation
        self.config = simulation.config
        self.clock = simulation.clock
        self.terminal = terminal
        self.plan = plan
        self.transport: asyncio.Transport | None = None
        self.scope: anyio.CancelScope | None = None
        self.closed = False
        self.online = False
        self.finishing = False
        self._writable: asyncio.Event | None = None  # set while the write buffer is full
        self._changed = _Wakeup()  # an acknowledgement, a login step, or the link closing

    # ---- the transport's callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.simulation.stats.bytes_received += len(data)
        self.handle(self.terminal.receive_data(data, self.clock()))
        self.write_queued()  # answers to platform commands

    def eof_received(self) -> bool:
        return False  # the platform hung up: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._close()

    def pause_writing(self) -> None:
        self._writable = asyncio.Event()

    def resume_writing(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None

    # ---- plumbing --------------------------------------------------------------------------

    def handle(self, events: list[TerminalEvent]) -> None:
        for event in events:
            if isinstance(event, Authenticated):
                self.online = True
        self.simulation.note(events, self.plan)
        if events:
            self._changed.set()

    def write_queued(self) -> None:
        """Hand what the terminal queued to the transport (one call, no waiting)."""
        data = self.terminal.data_to_send()
        if not data or self.closed or self.transport is None:
            return
        self.transport.write(data)
        self.simulation.stats.bytes_sent += len(data)

    async def flush(self) -> None:
        """Write what is queued; wait while the transport's buffer is full (a gateway that
        stopped reading), at most ``ack_timeout``, then give the link up."""
        self.write_queued()
        writable = self._writable
        if writable is None or self.closed:
            return
        with anyio.move_on_after(self.config.ack_timeout):
            await writable.wait()
            return
        self.simulation.stats.error("send_timeout")
        self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._changed.set()
        if self._writable is not None:
            self._writable.set()
        if self.scope is not None:
            self.scope.cancel()

    def close_transport(self) -> None:
        """Close our side (what is buffered still goes out); ``connection_lost`` follows."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # ---- phases ----------------------------------------------------------------------------

    async def login(self) -> bool:
        """Register (unless the code is known) and authenticate (and, with ``rsa``, exchange
        keys); ``False`` when refused, timed out or disconnected."""
        terminal = self.terminal
        self.handle(terminal.connect(self.clock()))
        await self.flush()
        deadline = self.clock() + self.config.connect_timeout

        def logged_in() -> bool:
            return self.online and (terminal.rsa_key is None or terminal.encrypting)

        while not logged_in() and not self.closed and terminal.state is not LinkState.FAILED:
            remaining = deadline - self.clock()
            if remaining <= 0:
                self.simulation.stats.error("login_timeout" if not self.online else "rsa_timeout")
                return False
            await self._changed.wait(remaining)
            await self.flush()  # the 0x0102 queued after a 0x8100, the 0x0A00 after a 0x0102
        return logged_in() and not self.closed

    async def heartbeat_loop(self) -> None:
        """0x0002 once the link has been quiet for ``heartbeat`` seconds; the core's timers
        (reassembly of split platform commands) run here too."""
        interval = self.config.heartbeat
        terminal = self.terminal
        while not self.closed:
            now = self.clock()
            wake = now + IDLE_WAKE_S
            if interval:
                wake = min(wake, terminal.last_sent_at + interval)
            deadline = terminal.next_deadline()
            if deadline is not None:
                wake = min(wake, deadline)
            await anyio.sleep(max(0.0, wake - now))
            if self.finishing:
                return
            now = self.clock()
            self.handle(terminal.handle_timer(now))
            if interval and now >= terminal.last_sent_at + interval:
                terminal.heartbeat(now)
                self.simulation.stats.heartbeats_sent += 1
            await self.flush()

    async def report(self) -> None:
        """Send the uploads and reports this terminal still owes, at the configured pace."""
        config = self.config
        terminal = self.terminal
        plan = self.plan
        simulation = self.simulation
        if plan.upload_pending and config.upload_size:
            terminal.upload_media(config.upload_size, self.clock())
            simulation.stats.uploads_started += 1
            await self.flush()
        per_message = config.batch or 1
        interval = per_message / config.rate if config.rate > 0 else 0.0
        next_due = self.clock()
        while not self.closed and plan.remaining != 0 and not simulation.sending_over:
            now = self.clock()
            self.handle(terminal.expire(now, config.ack_timeout))
            if interval:
                if now < next_due:
                    await anyio.sleep(min(next_due - now, 1.0))
                    continue
                # Behind schedule (a slow link): catch up by at most MAX_BURST messages at once
                # and forget the rest of the debt, so a stall is never followed by a flood.
                burst = min(MAX_BURST, 1 + int((now - next_due) / interval))
                next_due = max(next_due + burst * interval, now - interval)
            else:
                burst = config.window - terminal.unacked_report_messages
                if burst <= 0:  # the window is full: wait for an ack, or for the oldest to expire
                    oldest = terminal.oldest_awaiting_since()
                    expires = (now if oldest is None else oldest) + config.ack_timeout
                    await self._changed.wait(max(0.0, expires - now))
                    continue
            for _ in range(burst):
                if plan.remaining == 0:
                    break
                size = per_message if plan.remaining is None else min(per_message, plan.remaining)
                if config.batch:
                    terminal.report_batch(size, now, blind_area=config.blind_area)
                else:
                    terminal.report_location(now)
                simulation.report_sent(size, 1)
                if plan.remaining is not None:
                    plan.remaining -= size
            await self.flush()

    async def drain(self) -> None:
        """Wait up to ``ack_timeout`` for the acknowledgements (and the upload) still due."""
        terminal = self.terminal
        deadline = self.clock() + self.config.ack_timeout
        while not self.closed and (terminal.awaiting or terminal.uploads_pending):
            remaining = deadline - self.clock()
            if remaining <= 0:
                self.handle(terminal.expire(self.clock(), 0.0))  # given up: ack_timeout
                return
            await self._changed.wait(remaining)

    def finish(self) -> _Outcome:
        """Settle the connection's books once it is over."""
        terminal = self.terminal
        simulation = self.simulation
        plan = self.plan
        if self.online:
            simulation.stats.online -= 1
        if terminal.uploads_pending:
            simulation.stats.error("upload_incomplete")
        work_left = plan.upload_pending or (plan.remaining != 0 and not simulation.sending_over)
        if self.closed and self.online and (work_left or terminal.awaiting):
            simulation.stats.error("disconnected")
        # Whatever is still unacknowledged is lost with this connection.
        self.handle(terminal.connection_lost(self.clock()))
        if terminal.state is LinkState.FAILED:
            return _Outcome.FAILED
        if not self.online or work_left:
            return _Outcome.RETRY
        return _Outcome.DONE


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft limit of open files towards ``needed`` (within the hard limit); returns
    the soft limit now in force (``needed`` where the platform has no such limit)."""
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:  # pragma: no cover - Windows
        return needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return needed
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return int(soft)
    return int(target)


__all__ = [
    "MAX_BATCH",
    "MAX_TERMINALS",
    "MAX_WINDOW",
    "Simulation",
    "SimulationConfig",
    "SimulationSummary",
    "raise_open_files_limit",
]
