"""0x0705 CAN bus data (JT/T 808-2019 §8.53, tables 69-70; 2013 tables 78-79)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from enum import IntEnum
from typing import Annotated, Final

from ..body import Body, register
from ..errors import EncodeError, TruncatedBodyError
from ..ids import MessageId
from ..versions import V2013
from ..wire import JSON, Codec, DWord, FixedBytes, Layout, Reader, Writer, to_json


class CanChannel(IntEnum):
    CAN1 = 0
    CAN2 = 1


class CanFrameType(IntEnum):
    STANDARD = 0  # 11-bit identifier
    EXTENDED = 1  # 29-bit identifier


class CanCollectionMethod(IntEnum):
    RAW = 0  # the frame as received
    AVERAGE = 1  # the average over the collection interval


_CHANNEL_BIT: Final = 31
_FRAME_TYPE_BIT: Final = 30
_METHOD_BIT: Final = 29
_IDENTIFIER_MASK: Final = (1 << 29) - 1


@dataclass(slots=True, kw_only=True)
class CanItem(Layout):
    """One CAN frame: ``can_id`` is the whole CAN ID DWORD as sent (bit 31 channel, bit 30
    frame type, bit 29 collection method, bits 28-0 the bus identifier), ``data`` its 8 bytes."""

    can_id: DWord
    data: Annotated[bytes, FixedBytes(8)]

    @classmethod
    def of(
        cls,
        identifier: int,
        data: bytes,
        *,
        channel: CanChannel = CanChannel.CAN1,
        frame_type: CanFrameType = CanFrameType.STANDARD,
        collection_method: CanCollectionMethod = CanCollectionMethod.RAW,
    ) -> CanItem:
        """Build an item from its parts."""
        if not 0 <= identifier <= _IDENTIFIER_MASK:
            raise EncodeError(f"CAN identifier {identifier:#x} does not fit 29 bits")
        return cls(
            can_id=(channel << _CHANNEL_BIT)
            | (frame_type << _FRAME_TYPE_BIT)
            | (collection_method << _METHOD_BIT)
            | identifier,
            data=data,
        )

    @property
    def channel(self) -> CanChannel:
        return CanChannel(self.can_id >> _CHANNEL_BIT & 1)

    @property
    def frame_type(self) -> CanFrameType:
        return CanFrameType(self.can_id >> _FRAME_TYPE_BIT & 1)

    @property
    def collection_method(self) -> CanCollectionMethod:
        return CanCollectionMethod(self.can_id >> _METHOD_BIT & 1)

    @property
    def identifier(self) -> int:
        """The bus identifier, bits 28-0 of ``can_id``."""
        return self.can_id & _IDENTIFIER_MASK

    def to_json(self) -> dict[str, JSON]:
        return {
            "can_id": self.can_id,
            "channel": int(self.channel),
            "frame_type": int(self.frame_type),
            "collection_method": int(self.collection_method),
            "identifier": self.identifier,
            "data": self.data.hex(),
        }


class _ReceiveTime(Codec["time | None"]):
    """BCD[5] hhmmss + milliseconds as 4 BCD digits, as a ``time`` with whole milliseconds.

    Digits that are not a time of day (hour 24, millisecond 1000, non-decimal nibbles) give
    ``None``, never an error. ``None`` is written as five zero bytes, like the BCD date-times of
    ``wire``; here those read back as midnight, a valid time. Writing drops any sub-millisecond
    part (the wire resolution).
    """

    def read(self, r: Reader) -> time | None:
        digits = r.take(5).hex()
        if not digits.isdigit():
            return None
        try:
            return time(
                int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6:10]) * 1000
            )
        except ValueError:
            return None

    def write(self, w: Writer, value: time | None) -> None:
        if value is None:
            w.out += bytes(5)
            return
        digits = f"{value:%H%M%S}{value.microsecond // 1000:04d}"
        w.out += bytes.fromhex(digits)

    def describe(self) -> str:
        return "BCD[5] hhmmss+ms"


#: The receive time of 0x0705.
CAN_RECEIVE_TIME: Final[Codec[time | None]] = _ReceiveTime()
_ITEM_SIZE: Final = 12


@register(MessageId.CAN_BUS_DATA, since=V2013)
@dataclass(slots=True, kw_only=True)
class CanBusData(Body):
    """0x0705: CAN frames and the time of day (GMT+8, no date) the first one was received.

    Wire: item count WORD, receive time BCD[5], then that many 12-byte items. The count comes
    from ``items`` when encoding; the standard wants at least one item, so an empty list is an
    ``EncodeError`` (a received count of 0 is still decoded). Answered with 0x8001.
    """

    receive_time: time | None
    items: list[CanItem] = field(default_factory=list)

    @classmethod
    def read(cls, r: Reader) -> CanBusData:
        count = r.u16()
        receive_time = CAN_RECEIVE_TIME.read(r)
        if count * _ITEM_SIZE > r.remaining:
            raise TruncatedBodyError(
                f"{count} CAN items need {count * _ITEM_SIZE} bytes, {r.remaining} remain",
                offset=r.pos,
            )
        return cls(receive_time=receive_time, items=[CanItem.read(r) for _ in range(count)])

    def write(self, w: Writer) -> None:
        if not self.items:
            raise EncodeError("a 0x0705 body needs at least one CAN item")
        if len(self.items) > 0xFFFF:
            raise EncodeError(f"{len(self.items)} CAN items do not fit the WORD count")
        w.out += len(self.items).to_bytes(2, "big")
        CAN_RECEIVE_TIME.write(w, self.receive_time)
        for item in self.items:
            item.write(w)

    def to_json(self) -> dict[str, JSON]:
        return {
            "receive_time": None if self.receive_time is None else self.receive_time.isoformat(),
            "items": [to_json(item) for item in self.items],
        }


__all__ = [
    "CAN_RECEIVE_TIME",
    "CanBusData",
    "CanChannel",
    "CanCollectionMethod",
    "CanFrameType",
    "CanItem",
]
