"""Sub-packaged (long) messages: reassembly of incoming packets, splitting of outgoing bodies.

JT/T 808-2013/2019 §4.4.3 and §7.12 (reference §2.4 and §6.2): a body longer than 1023 bytes
travels as ``total`` packets, each with its own header carrying ``PacketInfo(total, index)``
(index from 1) and, per the standard, consecutive serial numbers. The receiver concatenates the
slices in index order and decodes the whole body; missing packets are asked for again with
0x8003 (platform → terminal) or 0x0005 (2019, terminal → platform) naming the serial of the
first packet, and the resent packets must be byte-identical to the originals.

* ``Reassembler`` (one per terminal session) collects packets and returns a
  ``MessageReassembled`` once every index has arrived; ``next_deadline`` / ``handle_timer`` give
  the retransmission requests and drops, in the style of aioquic's ``get_timer`` /
  ``handle_timer``.
* ``split_body`` / ``encode_split`` build outgoing frames; ``SentCache`` keeps what was sent so
  that a 0x0005 can be answered with the identical packets.

Nothing here does I/O or reads a clock: ``now`` is seconds on any monotonic scale, passed in by
the caller. Every structure is bounded.
"""

from __future__ import annotations

import bisect
import dataclasses
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .bodies.general import PlatformRetransmitRequest
from .body import Body, Fragment, RawBody, decode_body
from .errors import EncodeError, ProtocolError, ResultCode
from .framing import MAX_BODY_LENGTH, encode_frame
from .header import RSA_ENCRYPTION, Header, PacketInfo, encode_header
from .message import Message
from .versions import V2019, ProtocolVersion

SERIAL_MODULUS: Final = 0x10000
#: Largest slice of one packet (the 10-bit body-length field).
MAX_SLICE: Final = MAX_BODY_LENGTH
#: Largest ``total`` the packet item can carry (a WORD).
MAX_TOTAL: Final = 0xFFFF
#: Packet ids one 0x8003 can name: the count is a BYTE before 2019; in 2019 it is a WORD, and the
#: body (serial WORD + count WORD + 2 bytes an id) must still fit one 1023-byte packet.
MAX_RETRANSMIT_IDS: Final = {False: 0xFF, True: (MAX_BODY_LENGTH - 4) // 2}
#: Bytes charged per held packet on top of its payload: about what CPython spends to keep one
#: (dict slot, tuple, serial, bytes header, index list entry), so that ``held_bytes`` stays close
#: to the real memory even when a terminal sends many tiny slices.
PACKET_OVERHEAD: Final = 128

KiB: Final = 1024
MiB: Final = 1024 * KiB


def first_serial_of(serial: int, index: int) -> int:
    """Serial of packet 1 of a message whose packet ``index`` has ``serial`` (wraps at 65536)."""
    return (serial - index + 1) % SERIAL_MODULUS


# --------------------------------------------------------------------------------------------
# Errors and events


class SubpackageError(ProtocolError):
    """A packet of a sub-packaged message was refused; what was held before is unchanged."""


class InconsistentPacketError(SubpackageError):
    """The packet item is impossible (total 0, index 0 or past total) or contradicts earlier
    packets of the same message (another total)."""


class ReassemblyLimitError(SubpackageError):
    """Holding the packet would pass a per-terminal bound; ``limit`` names the bound.

    Answered with result 1 (failure) rather than 2: the packet is well formed, the platform just
    will not hold it.
    """

    result_code = ResultCode.FAILURE

    def __init__(self, message: str, *, limit: str, header: Header | None = None) -> None:
        super().__init__(message, header=header)
        self.limit = limit


class DropReason(StrEnum):
    """Why a partial message was given up (a label for logs and metrics)."""

    RETRIES_EXHAUSTED = "retries_exhausted"
    DEADLINE = "deadline"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class MessageReassembled:
    """Every packet of a sub-packaged message arrived.

    ``header`` is the header of packet 1 without its packet item (so ``header.serial`` is the
    first serial); ``serials`` the serial of each packet in index order (the last one is what a
    general response for the whole set names). ``data`` is the whole body. Exactly one of
    ``message`` (the decoded message) and ``error`` (why the whole body does not decode; its
    offset counts from the start of the reassembled body) is set.
    """

    header: Header
    data: bytes
    serials: tuple[int, ...]
    message: Message | None
    error: ProtocolError | None

    def __post_init__(self) -> None:
        if (self.message is None) == (self.error is None):
            raise ValueError("exactly one of message and error must be set")

    @property
    def msg_id(self) -> int:
        return self.header.msg_id

    @property
    def first_serial(self) -> int:
        return self.serials[0]

    @property
    def last_serial(self) -> int:
        return self.serials[-1]


@dataclass(frozen=True, slots=True)
class RetransmissionRequested:
    """The terminal should resend ``packet_ids`` of the message that starts at
    ``original_serial``; ``attempt`` counts the requests made since the message last progressed.

    ``packet_ids`` never holds more than one 0x8003 of ``version`` can carry; the rest are asked
    for in a later request. For a 0x0801 upload the session may prefer to ask with 0x8800.
    """

    msg_id: int
    version: ProtocolVersion
    original_serial: int
    packet_ids: tuple[int, ...]
    attempt: int

    def body(self) -> PlatformRetransmitRequest:
        """The 0x8003 body asking for the packets."""
        return PlatformRetransmitRequest(
            original_serial=self.original_serial, packet_ids=list(self.packet_ids)
        )


@dataclass(frozen=True, slots=True)
class PartialMessageDropped:
    """A partial message was given up: ``received`` of ``total`` packets had arrived."""

    msg_id: int
    first_serial: int
    total: int
    received: int
    held_bytes: int
    age: float
    reason: DropReason


ReassemblyEvent = RetransmissionRequested | PartialMessageDropped


@dataclass(slots=True, init=False)
class ReassemblyStats:
    """Counters of one ``Reassembler`` (every packet not used is counted somewhere)."""

    completed: int = 0
    #: A packet already held arrived again with the same payload (ignored).
    duplicates: int = 0
    #: A packet already held arrived again with another payload (the first one is kept).
    conflicting_duplicates: int = 0
    #: A packet of a message already completed arrived again (ignored).
    late_duplicates: int = 0
    #: Packets joined to a message although their serial was not consecutive with it.
    gap_joins: int = 0
    #: Packets refused with a ``SubpackageError``.
    rejected: int = 0
    retransmission_requests: int = 0
    dropped: int = 0

    def __init__(self) -> None:
        # One per connection: written out, as compiled a dataclass-generated one runs
        # interpreted (gateway.protocol.session).
        self.completed = self.duplicates = self.conflicting_duplicates = 0
        self.late_duplicates = self.gap_joins = self.rejected = 0
        self.retransmission_requests = self.dropped = 0


# --------------------------------------------------------------------------------------------
# Reassembly


class _Partial:
    """The packets of one message received so far (no storage is reserved for the others)."""

    __slots__ = (
        "created",
        "held",
        "idle_since",
        "indexes",
        "msg_id",
        "packets",
        "requests",
        "template",
        "total",
    )

    def __init__(self, header: Header, total: int, now: float) -> None:
        self.msg_id = header.msg_id
        self.total = total
        self.template = dataclasses.replace(header)  # the header of packet 1 once it arrived
        self.packets: dict[int, tuple[int, bytes]] = {}  # index -> (serial, slice)
        self.indexes: list[int] = []  # held indexes, sorted
        self.held = 0
        self.created = now
        self.idle_since = now  # last progress or last request
        self.requests = 0  # requests since the last progress

    @property
    def first_serial(self) -> int:
        """Serial of packet 1: its real serial once it arrived, else computed from the lowest."""
        lowest = self.indexes[0]
        return first_serial_of(self.packets[lowest][0], lowest)

    def missing(self, limit: int) -> tuple[int, ...]:
        found: list[int] = []
        for index in range(1, self.total + 1):
            if index not in self.packets:
                found.append(index)
                if len(found) == limit:
                    break
        return tuple(found)

    def fits_between_neighbours(self, index: int, serial: int, max_gap: int) -> bool:
        """Whether ``serial`` is after the serial of the nearest lower held index and before the
        nearest higher one, by at least the index distance and at most ``max_gap`` more."""
        position = bisect.bisect_left(self.indexes, index)
        if position > 0:
            lower = self.indexes[position - 1]
            distance = (serial - self.packets[lower][0]) % SERIAL_MODULUS
            if not index - lower <= distance <= index - lower + max_gap:
                return False
        if position < len(self.indexes):
            upper = self.indexes[position]
            distance = (self.packets[upper][0] - serial) % SERIAL_MODULUS
            if not upper - index <= distance <= upper - index + max_gap:
                return False
        return True

    def add(self, header: Header, index: int, data: bytes, cost: int) -> None:
        self.packets[index] = (header.serial, data)
        bisect.insort(self.indexes, index)
        self.held += cost
        if index == 1:
            self.template = dataclasses.replace(header)


class ReassemblyBudget:
    """Bytes that every reassembler sharing this budget may hold together: one gateway-wide
    bound on top of each session's own ``max_bytes``, so that many connections cannot add up
    to more memory than configured."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a reassembly budget must be positive")
        self.limit = limit
        self.held = 0


class Reassembler:
    """Reassembles the sub-packaged messages of one terminal session (sans-I/O).

    Packets are matched to a message by (message id, first serial), first serial being
    ``serial - index + 1`` modulo 65536. Decisions where the standard says nothing:

    * Serial gaps: real terminals interleave other messages between the packets of one message
      (the 0x0104 and 0x0801 sets in the shared vectors skip serials). A packet whose first
      serial matches no message joins the one held message with the same id and total whose
      neighbouring packets' serials are before/after it by at most ``max_serial_gap`` extra; when
      none or several qualify it starts a new message. ``max_serial_gap=0`` is the strict rule.
    * Duplicates: an identical resend is ignored; a different payload for an index already held
      is ignored too (the first one is kept, as the standard requires resends to be identical)
      and counted in ``stats.conflicting_duplicates``. Packets of a message completed in the last
      ``give_up_after`` seconds (at most ``remember_completed`` messages) are late resends and are
      ignored, so that a resend never starts a message that would then ask for what it already
      delivered.
    * Retransmission: after ``retransmit_after`` seconds without a new packet the missing ones are
      requested (at most what one 0x8003 carries); ``max_retries`` requests in a row that bring
      nothing new drop the message, and so does ``give_up_after`` seconds since its first packet.
      A new packet resets the request count (a large gap can take several requests).
    * Bounds: ``max_bytes`` held, counting payload plus ``PACKET_OVERHEAD`` a packet (the default
      4 MiB holds a 2 MB photo with room to spare; a 0x0801 photo is usually 50-500 KB),
      ``max_partials`` messages at once and ``total <= max_total`` (4096 slices of 1023 bytes
      is 4 MB). Nothing is reserved from ``total``. A packet that would pass a bound is refused
      with ``ReassemblyLimitError`` and nothing changes.

    Refused packets raise ``SubpackageError`` subclasses carrying the packet's header and the
    result code to answer with; nothing else is raised for any packet content.
    """

    __slots__ = (
        "_budget",
        "_completed",
        "_held",
        "_partials",
        "give_up_after",
        "max_bytes",
        "max_partials",
        "max_retries",
        "max_serial_gap",
        "max_total",
        "retransmit_after",
        "stats",
    )

    def __init__(
        self,
        *,
        retransmit_after: float = 10.0,
        max_retries: int = 3,
        give_up_after: float = 300.0,
        max_bytes: int = 4 * MiB,
        max_partials: int = 8,
        max_total: int = 4096,
        max_serial_gap: int = 64,
        remember_completed: int = 16,
        budget: ReassemblyBudget | None = None,
    ) -> None:
        if not retransmit_after > 0 or not give_up_after > 0:
            raise ValueError("retransmit_after and give_up_after must be positive")
        if max_retries < 0 or max_serial_gap < 0 or remember_completed < 0:
            raise ValueError("max_retries, max_serial_gap and remember_completed must be >= 0")
        if max_bytes <= 0 or max_partials <= 0:
            raise ValueError("max_bytes and max_partials must be positive")
        if not 1 <= max_total <= MAX_TOTAL:
            raise ValueError(f"max_total must be 1..{MAX_TOTAL}")
        self.retransmit_after = retransmit_after
        self.max_retries = max_retries
        self.give_up_after = give_up_after
        self.max_bytes = max_bytes
        self.max_partials = max_partials
        self.max_total = max_total
        self.max_serial_gap = max_serial_gap
        self.stats = ReassemblyStats()
        self._partials: list[_Partial] = []  # oldest first
        self._held = 0
        self._budget = budget  # shared with other reassemblers, if given
        # (forget at, msg id, serial of each packet) of recently completed messages; the serials
        # as 16-bit array entries: 8 KB for the largest message, not a tuple of int objects
        self._completed: deque[tuple[float, int, array[int]]] = deque(maxlen=remember_completed)

    @property
    def held_bytes(self) -> int:
        """Bytes charged against ``max_bytes`` now (payload plus per-packet overhead)."""
        return self._held

    @property
    def pending(self) -> int:
        """Messages with some packets still missing."""
        return len(self._partials)

    def receive_fragment(self, message: Message, now: float) -> MessageReassembled | None:
        """``receive`` for what ``decode_packet`` returns for a packet (a ``Fragment`` body)."""
        if not isinstance(message.body, Fragment):
            raise ValueError("not a packet of a sub-packaged message (the body is no Fragment)")
        return self.receive(message.header, message.body.data, now)

    def receive(self, header: Header, data: bytes, now: float) -> MessageReassembled | None:
        """Take one packet; returns the message once its last missing packet arrives.

        Returns ``None`` while packets are missing and for ignored duplicates. Raises
        ``InconsistentPacketError`` or ``ReassemblyLimitError`` (nothing is held then), and
        ``ValueError`` for a header without a packet item (a caller bug, not a terminal's).
        """
        info = header.packet
        if info is None:
            raise ValueError("header has no packet item")
        try:
            return self._receive(header, info, data, now)
        except SubpackageError:
            self.stats.rejected += 1
            raise

    def _receive(
        self, header: Header, info: PacketInfo, data: bytes, now: float
    ) -> MessageReassembled | None:
        total, index = info.total, info.index
        if total == 0 or index == 0 or index > total:
            raise InconsistentPacketError(
                f"packet {index} of {total}: index must be 1..total", header=header
            )
        if total > self.max_total:
            raise ReassemblyLimitError(
                f"a message of {total} packets is more than max_total={self.max_total}",
                limit="max_total",
                header=header,
            )
        self._forget_completed(now)
        if self._is_late_duplicate(header.msg_id, total, index, header.serial):
            self.stats.late_duplicates += 1
            return None
        if total == 1:  # a whole message in one packet item: nothing to hold
            self.stats.completed += 1
            return _assemble(dataclasses.replace(header, packet=None), data, (header.serial,))
        partial = self._find(header, total, index)
        if partial is not None and index in partial.packets:
            if partial.packets[index][1] == data:
                self.stats.duplicates += 1
            else:
                self.stats.conflicting_duplicates += 1
            return None
        cost = len(data) + PACKET_OVERHEAD
        if partial is None and len(self._partials) >= self.max_partials:
            raise ReassemblyLimitError(
                f"{len(self._partials)} messages are already being reassembled "
                f"(max_partials={self.max_partials})",
                limit="max_partials",
                header=header,
            )
        if self._held + cost > self.max_bytes:
            raise ReassemblyLimitError(
                f"holding {cost} more bytes would pass max_bytes={self.max_bytes} "
                f"({self._held} held)",
                limit="max_bytes",
                header=header,
            )
        budget = self._budget
        if budget is not None and budget.held + cost > budget.limit:
            raise ReassemblyLimitError(
                f"holding {cost} more bytes would pass the gateway-wide reassembly budget of "
                f"{budget.limit} bytes",
                limit="total_bytes",
                header=header,
            )
        if partial is None:
            partial = _Partial(header, total, now)
            self._partials.append(partial)
        elif first_serial_of(header.serial, index) != partial.first_serial:
            self.stats.gap_joins += 1
        partial.add(header, index, data, cost)
        partial.idle_since = now
        partial.requests = 0
        self._held += cost
        if budget is not None:
            budget.held += cost
        if len(partial.packets) < total:
            return None
        return self._complete(partial, now)

    def _find(self, header: Header, total: int, index: int) -> _Partial | None:
        msg_id, serial = header.msg_id, header.serial
        first = first_serial_of(serial, index)
        for partial in self._partials:
            if partial.msg_id == msg_id and partial.first_serial == first:
                if partial.total != total:
                    raise InconsistentPacketError(
                        f"packet {index} says {total} packets, earlier packets of the message "
                        f"starting at serial {first} said {partial.total}",
                        header=header,
                    )
                return partial
        # Not where the standard puts it: a resend of a packet that joined across a serial gap,
        # or a packet that fits one message between its neighbours.
        candidates: list[_Partial] = []
        for partial in self._partials:
            if partial.msg_id != msg_id or partial.total != total:
                continue
            held = partial.packets.get(index)
            if held is not None:
                if held[0] == serial:
                    return partial
            elif partial.fits_between_neighbours(index, serial, self.max_serial_gap):
                candidates.append(partial)
        return candidates[0] if len(candidates) == 1 else None

    def _complete(self, partial: _Partial, now: float) -> MessageReassembled:
        self._remove(partial)
        packets = partial.packets
        serials = tuple(packets[index][0] for index in range(1, partial.total + 1))
        data = b"".join(packets[index][1] for index in range(1, partial.total + 1))
        if self._completed.maxlen:
            remembered = array("H", serials)
            self._completed.append((now + self.give_up_after, partial.msg_id, remembered))
        self.stats.completed += 1
        return _assemble(dataclasses.replace(partial.template, packet=None), data, serials)

    def _remove(self, partial: _Partial) -> None:
        self._partials.remove(partial)
        self._held -= partial.held
        if self._budget is not None:
            self._budget.held -= partial.held

    def _forget_completed(self, now: float) -> None:
        completed = self._completed
        while completed and completed[0][0] <= now:
            completed.popleft()

    def _is_late_duplicate(self, msg_id: int, total: int, index: int, serial: int) -> bool:
        return any(
            done_id == msg_id and len(serials) == total and serials[index - 1] == serial
            for _, done_id, serials in self._completed
        )

    # ---- time ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` has something to do next; ``None`` when nothing is pending."""
        if not self._partials:
            return None
        return min(
            min(p.idle_since + self.retransmit_after, p.created + self.give_up_after)
            for p in self._partials
        )

    def handle_timer(self, now: float) -> list[ReassemblyEvent]:
        """Requests for missing packets that are due, and messages given up, oldest first."""
        self._forget_completed(now)
        events: list[ReassemblyEvent] = []
        for partial in list(self._partials):
            if now >= partial.created + self.give_up_after:
                events.append(self._drop(partial, now, DropReason.DEADLINE))
            elif now >= partial.idle_since + self.retransmit_after:
                if partial.requests >= self.max_retries:
                    events.append(self._drop(partial, now, DropReason.RETRIES_EXHAUSTED))
                    continue
                partial.requests += 1
                partial.idle_since = now
                self.stats.retransmission_requests += 1
                version = partial.template.version
                events.append(
                    RetransmissionRequested(
                        msg_id=partial.msg_id,
                        version=version,
                        original_serial=partial.first_serial,
                        packet_ids=partial.missing(MAX_RETRANSMIT_IDS[version is V2019]),
                        attempt=partial.requests,
                    )
                )
        return events

    def close(self, now: float) -> list[PartialMessageDropped]:
        """Give up every partial message (the session ends)."""
        return [self._drop(partial, now, DropReason.CLOSED) for partial in list(self._partials)]

    def _drop(self, partial: _Partial, now: float, reason: DropReason) -> PartialMessageDropped:
        self._remove(partial)
        self.stats.dropped += 1
        return PartialMessageDropped(
            msg_id=partial.msg_id,
            first_serial=partial.first_serial,
            total=partial.total,
            received=len(partial.packets),
            held_bytes=partial.held,
            age=now - partial.created,
            reason=reason,
        )


def _assemble(header: Header, data: bytes, serials: tuple[int, ...]) -> MessageReassembled:
    """Decode the whole body (an RSA-encrypted one stays raw, as in ``decode_packet``)."""
    if header.encryption & RSA_ENCRYPTION:
        body: Body = RawBody(raw=data)
        trailing = b""
    else:
        try:
            body, trailing = decode_body(header.msg_id, data, header.version)
        except ProtocolError as error:
            failure = type(error)(
                f"0x{header.msg_id:04X} reassembled body: {error.message}",
                offset=error.offset,
                header=header,
            )
            return MessageReassembled(header, data, serials, None, failure)
    return MessageReassembled(header, data, serials, Message(header, body, trailing), None)


# --------------------------------------------------------------------------------------------
# Splitting


def split_body(data: bytes, max_size: int = MAX_SLICE) -> list[bytes]:
    """Slices of at most ``max_size`` bytes; a body that fits is one slice (even when empty)."""
    if not 1 <= max_size <= MAX_SLICE:
        raise ValueError(f"max_size must be 1..{MAX_SLICE}")
    if len(data) <= max_size:
        return [data]
    return [data[start : start + max_size] for start in range(0, len(data), max_size)]


@dataclass(frozen=True, slots=True)
class SplitMessage:
    """The wire frames of one outgoing message, in index order, and the serial of each."""

    msg_id: int
    serials: tuple[int, ...]
    frames: tuple[bytes, ...]

    @property
    def first_serial(self) -> int:
        return self.serials[0]

    @property
    def total(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> int:
        """Wire bytes of every frame."""
        return sum(map(len, self.frames))

    def frames_for(self, packet_ids: Iterable[int]) -> list[bytes]:
        """The frames of the given indexes (from 1), each once, in the order asked; indexes
        outside 1..total are skipped."""
        seen: set[int] = set()
        frames: list[bytes] = []
        for index in packet_ids:
            if 1 <= index <= len(self.frames) and index not in seen:
                seen.add(index)
                frames.append(self.frames[index - 1])
        return frames


def encode_split(
    header: Header,
    data: bytes,
    next_serial: Callable[[], int],
    *,
    max_size: int = MAX_SLICE,
) -> SplitMessage:
    """Frames for a body of any length: one unsplit frame when it fits ``max_size``, otherwise
    packets ``PacketInfo(total, 1..total)`` with consecutive serials from ``next_serial``.

    ``header`` is a template: its ``serial`` and ``packet`` are replaced. ``next_serial`` is
    called once a frame and must count up by one (wrapping 65535 → 0).
    """
    slices = split_body(data, max_size)
    total = len(slices)
    if total > MAX_TOTAL:
        raise EncodeError(f"a body of {len(data)} bytes needs {total} packets (limit {MAX_TOTAL})")
    serials: list[int] = []
    frames: list[bytes] = []
    for index, piece in enumerate(slices, 1):
        serial = next_serial()
        if serials and serial != (serials[-1] + 1) % SERIAL_MODULUS:
            raise EncodeError(
                f"packets of one message need consecutive serials, got {serials[-1]} then {serial}"
            )
        packet = None if total == 1 else PacketInfo(total, index)
        head = dataclasses.replace(header, serial=serial, packet=packet)
        frames.append(encode_frame(encode_header(head, len(piece)) + piece))
        serials.append(serial)
    return SplitMessage(header.msg_id, tuple(serials), tuple(frames))


@dataclass(slots=True, init=False)
class SentCacheStats:
    evicted: int = 0
    #: Messages larger than the whole cache, not kept.
    too_large: int = 0
    resent_packets: int = 0
    #: Requests naming a first serial the cache does not hold (evicted or never sent).
    unknown_requests: int = 0

    def __init__(self) -> None:  # one per connection (see ReassemblyStats)
        self.evicted = self.too_large = self.resent_packets = self.unknown_requests = 0


class SentCache:
    """The sub-packaged messages recently sent to one terminal, by first serial, so that a
    0x0005 retransmit request can be answered with byte-identical packets.

    Bounded by ``max_messages`` and ``max_bytes`` (wire bytes); the oldest message is evicted
    first. Single-frame messages are not kept: 0x0005 names packets of a sub-packaged message.
    """

    __slots__ = ("_held", "_messages", "max_bytes", "max_messages", "stats")

    def __init__(self, *, max_messages: int = 8, max_bytes: int = 2 * MiB) -> None:
        if max_messages <= 0 or max_bytes <= 0:
            raise ValueError("max_messages and max_bytes must be positive")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.stats = SentCacheStats()
        self._messages: OrderedDict[int, SplitMessage] = OrderedDict()
        self._held = 0

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def held_bytes(self) -> int:
        return self._held

    def add(self, sent: SplitMessage) -> bool:
        """Keep ``sent`` (replacing an older message with the same first serial); returns
        whether it is kept."""
        if sent.total == 1:
            return False
        size = sent.size
        if size > self.max_bytes:
            self.stats.too_large += 1
            return False
        self.discard(sent.first_serial)
        messages = self._messages
        while messages and (
            len(messages) >= self.max_messages or self._held + size > self.max_bytes
        ):
            _, oldest = messages.popitem(last=False)
            self._held -= oldest.size
            self.stats.evicted += 1
        messages[sent.first_serial] = sent
        self._held += size
        return True

    def get(self, first_serial: int) -> SplitMessage | None:
        return self._messages.get(first_serial)

    def discard(self, first_serial: int) -> None:
        """Forget a message (for instance once the terminal acknowledged it)."""
        sent = self._messages.pop(first_serial, None)
        if sent is not None:
            self._held -= sent.size

    def resend(self, original_serial: int, packet_ids: Iterable[int]) -> list[bytes] | None:
        """The frames a 0x0005 asks for (see ``SplitMessage.frames_for``), or ``None`` when the
        message is not held. An empty id list asks for nothing."""
        sent = self._messages.get(original_serial)
        if sent is None:
            self.stats.unknown_requests += 1
            return None
        frames = sent.frames_for(packet_ids)
        self.stats.resent_packets += len(frames)
        return frames


__all__ = [
    "MAX_RETRANSMIT_IDS",
    "MAX_SLICE",
    "MAX_TOTAL",
    "PACKET_OVERHEAD",
    "DropReason",
    "InconsistentPacketError",
    "MessageReassembled",
    "PartialMessageDropped",
    "Reassembler",
    "ReassemblyEvent",
    "ReassemblyLimitError",
    "ReassemblyStats",
    "RetransmissionRequested",
    "SentCache",
    "SentCacheStats",
    "SplitMessage",
    "SubpackageError",
    "encode_split",
    "first_serial_of",
    "split_body",
]
