"""The session directory: which node holds which terminal, in a JetStream KV bucket.

Each node writes the sessions it gains (``bound``) and removes those it loses (``unbound``),
keyed by the phone without leading zeros, and re-writes its live entries every third of the TTL
with a compare-and-set on the revision it last wrote. The bucket's ``max_age`` is the TTL: the
entries of a node that stopped (killed, cut off) expire, and every node also ignores an entry
it has not seen refreshed within the TTL.

Every node watches the whole bucket into a local map, so lookups (routing a call, listing the
cluster's sessions) cost no round trip. The newest connection wins across nodes: an entry for a
phone this node holds, written by another node after this node's own write (a higher
revision), means the terminal authenticated there later, and the local session is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import anyio

from gateway.protocol.header import phone_key
from gateway.protocol.session import CloseReason
from gateway.server.logs import get_logger

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from gateway.server.connection import TerminalConnection
    from gateway.server.gateway import Gateway

    from .connection import NatsLink

log = get_logger()
SESSIONS_BUCKET: Final = "jt808_sessions"
NODES_BUCKET: Final = "jt808_nodes"
#: Version of the JSON values in both buckets (docs/cluster.md).
SCHEMA: Final = 1
#: Seconds to wait before writing again after NATS refused or was unreachable.
RETRY_WAIT: Final = 0.5


def directory_key(phone: str) -> str:
    """The KV key of a phone: the same terminal whether written with 12 or 20 digits."""
    return phone_key(phone) or "0"


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One terminal's session as the directory knows it (JSON in the bucket)."""

    phone: str
    node: str
    device_name: str = ""
    remote_address: str = ""
    protocol_version: int = 0
    connected_at: str = ""
    authenticated_at: str = ""
    #: The bucket's revision of this value (not stored in it).
    revision: int = 0

    def encode(self) -> bytes:
        fields = asdict(self)
        del fields["revision"]
        return json.dumps({"v": SCHEMA, **fields}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes, revision: int) -> DirectoryEntry | None:
        """The entry, or None for a value this version cannot read."""
        try:
            fields = json.loads(data)
            if fields.pop("v", None) != SCHEMA:
                return None
            known = {k: v for k, v in fields.items() if k in _ENTRY_FIELDS}
            return cls(**known, revision=revision)
        except (ValueError, TypeError):
            return None

    @property
    def connected(self) -> datetime | None:
        return _parse_time(self.connected_at)

    @property
    def authenticated(self) -> datetime | None:
        return _parse_time(self.authenticated_at)


_ENTRY_FIELDS: Final = frozenset(DirectoryEntry.__dataclass_fields__) - {"revision"}


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def entry_of(connection: TerminalConnection, node: str) -> DirectoryEntry:
    version = connection.session.version
    authenticated = connection.authenticated_wall or connection.gateway.wall_clock()
    return DirectoryEntry(
        phone=connection.phone,
        node=node,
        device_name=connection.device_name,
        remote_address=connection.remote_address,
        protocol_version=int(version) if version is not None else 0,
        connected_at=connection.connected_wall.isoformat(),
        authenticated_at=authenticated.isoformat(),
    )


@dataclass(slots=True)
class _Owned:
    """A session of this node, the value written for it and the revision it got (None while
    the write is pending)."""

    connection: TerminalConnection
    value: bytes
    revision: int | None = None


class SessionDirectory:
    """This node's side of the directory: a ``SessionObserver`` of the gateway's sessions."""

    def __init__(self, gateway: Gateway, link: NatsLink, *, ttl: float) -> None:
        self.gateway = gateway
        self.link = link
        self.node_id = link.node_id
        self.ttl = ttl
        self.clock: Callable[[], float] = time.monotonic
        self._kv: KeyValue | None = None
        self._owned: dict[str, _Owned] = {}
        #: Every node's entries as last seen, with the (monotonic) time they were seen.
        self._seen: dict[str, tuple[DirectoryEntry, float]] = {}
        #: Writes waiting for the writer, latest per key (a put, or the owner to delete).
        self._pending: dict[str, _Owned | None] = {}
        self._deletes: dict[str, int] = {}
        self._wake = asyncio.Event()

    # ----------------------------------------------------------------------------------------
    # Life cycle

    async def open(self, kv: KeyValue) -> None:
        self._kv = kv

    async def serve(self) -> None:
        """Watch the bucket, write changes, refresh this node's entries; until cancelled."""
        async with anyio.create_task_group() as tasks:  # anyio's: cancelled with the node
            tasks.start_soon(self._watch)
            tasks.start_soon(self._write)
            tasks.start_soon(self._refresh)

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise RuntimeError("the session directory is not open")
        return self._kv

    # ----------------------------------------------------------------------------------------
    # SessionObserver (called on the event loop by gateway.server.gateway.SessionRegistry)

    def bound(self, connection: TerminalConnection) -> None:
        key = directory_key(connection.phone)
        owned = _Owned(connection, entry_of(connection, self.node_id).encode())
        self._owned[key] = owned
        self._pending[key] = owned
        self._deletes.pop(key, None)
        self._wake.set()

    def unbound(self, connection: TerminalConnection) -> None:
        key = directory_key(connection.phone)
        owned = self._owned.get(key)
        if owned is None or owned.connection is not connection:
            return
        del self._owned[key]
        self._pending.pop(key, None)
        if owned.revision is not None:
            # Only this node's own value is deleted: a newer one from elsewhere stays.
            self._deletes[key] = owned.revision
            self._wake.set()

    # ----------------------------------------------------------------------------------------
    # Lookups (no round trip)

    def lookup(self, phone: str) -> DirectoryEntry | None:
        """The node holding ``phone`` as far as the directory knows (fresh entries only)."""
        seen = self._seen.get(directory_key(phone))
        if seen is None or self.clock() - seen[1] > self.ttl:
            return None
        return seen[0]

    def entries(self) -> list[DirectoryEntry]:
        """Every fresh entry of the cluster (this node's included)."""
        now = self.clock()
        return [entry for entry, at in self._seen.values() if now - at <= self.ttl]

    # ----------------------------------------------------------------------------------------
    # Tasks

    async def _watch(self) -> None:
        from nats.js.kv import KV_DEL, KV_PURGE  # noqa: PLC0415  (cluster mode only)

        watcher = await self.kv.watchall()
        try:
            async for update in watcher:
                if update is None:  # the end of the initial values
                    continue
                key = update.key
                if update.operation in (KV_DEL, KV_PURGE) or not update.value:
                    self._seen.pop(key, None)
                    continue
                entry = DirectoryEntry.decode(update.value, update.revision or 0)
                if entry is None:
                    continue
                self._seen[key] = (entry, self.clock())
                self._reconcile(key)
                self._forget_stale()
        finally:
            # Bounded: NATS may be why we stop (the consumer expires on its own then).
            with anyio.move_on_after(1, shield=True), contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]

    def _forget_stale(self) -> None:
        """Drop entries not refreshed within the TTL (a node that died), now and then."""
        if len(self._seen) % 64:
            return
        now = self.clock()
        for key in [k for k, (_, at) in self._seen.items() if now - at > self.ttl]:
            del self._seen[key]

    def _reconcile(self, key: str) -> None:
        """Close this node's session for ``key`` when another node wrote it after us."""
        owned = self._owned.get(key)
        seen = self._seen.get(key)
        if owned is None or owned.revision is None or seen is None:
            return
        entry = seen[0]
        if entry.node != self.node_id and entry.revision > owned.revision:
            del self._owned[key]
            self._pending.pop(key, None)
            log.info(
                "connection replaced by a newer one on another node",
                extra={"phone": owned.connection.phone, "node": entry.node},
            )
            owned.connection.close_now(CloseReason.REPLACED)

    async def _write(self) -> None:
        import nats.errors  # noqa: PLC0415
        import nats.js.errors  # noqa: PLC0415

        kv = self.kv
        failing = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._deletes:
                try:
                    if self._pending:
                        key = next(iter(self._pending))
                        owned = self._pending[key]
                        if owned is not None:
                            revision = await kv.put(key, owned.value)
                            if self._pending.get(key) is owned:
                                del self._pending[key]
                            owned.revision = revision
                            self._reconcile(key)
                    else:
                        key, last = next(iter(self._deletes.items()))
                        with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                            await kv.delete(key, last=last)
                        if self._deletes.get(key) == last:
                            del self._deletes[key]
                except (nats.errors.Error, OSError, TimeoutError) as error:
                    if not failing:  # once per outage: it is retried every RETRY_WAIT
                        log.warning(
                            "session directory write failed; retrying",
                            extra={"node": self.node_id,
                                   "error": str(error) or type(error).__name__},
                        )  # fmt: skip
                    failing = True
                    await asyncio.sleep(RETRY_WAIT)
                else:
                    if failing:
                        log.info("session directory writes work again",
                                 extra={"node": self.node_id})  # fmt: skip
                    failing = False

    async def _refresh(self) -> None:
        import nats.errors  # noqa: PLC0415
        import nats.js.errors  # noqa: PLC0415

        kv = self.kv
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self._put_node()
                for key, owned in list(self._owned.items()):
                    if owned.revision is None or self._owned.get(key) is not owned:
                        continue
                    try:
                        owned.revision = await kv.update(key, owned.value, last=owned.revision)
                    except nats.js.errors.KeyWrongLastSequenceError:
                        await self._lost_entry(key, owned)
            except (nats.errors.Error, OSError, TimeoutError) as error:
                log.warning(
                    "session directory refresh failed",
                    extra={"node": self.node_id, "error": str(error) or type(error).__name__},
                )

    async def _lost_entry(self, key: str, owned: _Owned) -> None:
        """Our value of ``key`` is no longer the latest: replaced by another node (close), or
        gone (expired while NATS was away: write it again)."""
        import nats.js.errors  # noqa: PLC0415

        try:
            current = await self.kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            current = None
        entry = None
        if current is not None and current.value:
            entry = DirectoryEntry.decode(current.value, current.revision or 0)
        if entry is not None and entry.node != self.node_id:
            self._seen[key] = (entry, self.clock())
            self._reconcile(key)
        elif self._owned.get(key) is owned:
            owned.revision = await self.kv.put(key, owned.value)

    # ----------------------------------------------------------------------------------------
    # Nodes

    async def _put_node(self) -> None:
        nodes = await self.link.jetstream.key_value(NODES_BUCKET)
        await nodes.put(self.node_id, self.node_value())

    def node_value(self) -> bytes:
        grpc = self.gateway.config.grpc_listen
        value: dict[str, Any] = {"v": SCHEMA, "node": self.node_id, "grpc": str(grpc)}
        return json.dumps(value, separators=(",", ":")).encode()

    async def forget_own(self) -> None:
        """Delete every entry this node still holds (its sessions end with it)."""
        import nats.js.errors  # noqa: PLC0415

        held = {k: o.revision for k, o in self._owned.items() if o.revision is not None}
        self._owned.clear()
        self._pending.clear()
        held.update(self._deletes)
        self._deletes.clear()
        for key, revision in held.items():
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self.kv.delete(key, last=revision)
