"""Vehicle control: 0x8500 and its 0x0500 reply (JT/T 808-2013 tables 53-55, 2019 §8.33-§8.34,
tables 42-44).

The terminal answers 0x8500 at once with 0x0001, then with 0x0500 once it has acted on the
vehicle; success is judged from the status bits of the location in 0x0500 (door lock, bit 12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Annotated, Final

from ..body import Body, register
from ..errors import EncodeError
from ..ids import MessageId
from ..versions import V2019
from ..wire import U8, U16, Byte, Codec, Layout, Reader, Word, Writer
from .location import LOCATION, LocationReport


class VehicleControlFlag(IntFlag):
    """The 2011/2013 control-flags BYTE of 0x8500 (bits 1-7 reserved)."""

    LOCK_DOORS = 1 << 0  # 0 unlock the doors, 1 lock them


class ControlType(IntEnum):
    """2019 control-type ids of 0x8500: 0x0002-0x8000 are reserved for the standard,
    0xF001-0xFFFF for vendors."""

    DOOR = 0x0001


class DoorCommand(IntEnum):
    """2019 parameter of a ``ControlType.DOOR`` item (2019 table 44).

    The reverse of the 2013 bit: 0 closes and locks ("锁闭"), 1 opens ("开启").
    """

    CLOSE_AND_LOCK = 0
    OPEN = 1


#: Parameter codec of each control type whose layout the standard defines.
CONTROL_PARAMETERS: Final[dict[int, Codec[int]]] = {ControlType.DOOR: U8}


@dataclass(slots=True, kw_only=True)
class ControlItem(Layout):
    """One 2019 control item: a control type of ``CONTROL_PARAMETERS`` and its parameter."""

    control_type: Word
    parameter: Byte


@register(MessageId.VEHICLE_CONTROL)
@dataclass(slots=True, kw_only=True)
class VehicleControl(Body):
    """0x8500: lock or unlock the doors (and, from 2019, other vehicle controls).

    2011/2013: ``control_flags`` (``VehicleControlFlag``). 2019: a WORD count, then ``items``.
    Each item's parameter layout depends on its type and only the door's (a BYTE,
    ``DoorCommand``) is defined, so an item of another type makes the rest of the body
    undecidable: it and everything after it are kept in ``undecoded``, and ``undecoded_count``
    is how many announced items that tail holds (the count written is ``len(items) +
    undecoded_count``). The door parameter follows each revision's text, so the same intent is
    1 (lock) in 2013 and 0 (close and lock) in 2019.
    """

    control_flags: int = 0
    items: list[ControlItem] = field(default_factory=list)
    undecoded: bytes = b""
    undecoded_count: int = 0

    @classmethod
    def read(cls, r: Reader) -> VehicleControl:
        if r.version < V2019:
            return cls(control_flags=r.u8())
        count = r.u16()
        items: list[ControlItem] = []
        undecoded = b""
        while len(items) < count:
            start = r.pos
            control_type = r.u16()
            codec = CONTROL_PARAMETERS.get(control_type)
            if codec is None:
                r.pos = start
                undecoded = r.rest()
                break
            items.append(ControlItem(control_type=control_type, parameter=codec.read(r)))
        return cls(items=items, undecoded=undecoded, undecoded_count=count - len(items))

    def write(self, w: Writer) -> None:
        if w.version < V2019:
            U8.write(w, self.control_flags)
            return
        if bool(self.undecoded) != (self.undecoded_count > 0):
            raise EncodeError(
                "VehicleControl: undecoded bytes and undecoded_count go together "
                f"({len(self.undecoded)} bytes, count {self.undecoded_count})"
            )
        codecs = []
        for item in self.items:
            codec = CONTROL_PARAMETERS.get(item.control_type)
            if codec is None:
                raise EncodeError(
                    f"control type 0x{item.control_type:04X} has no known parameter layout; "
                    "write it into `undecoded`"
                )
            codecs.append(codec)
        U16.write(w, len(self.items) + self.undecoded_count)
        for item, codec in zip(self.items, codecs, strict=True):
            U16.write(w, item.control_type)
            codec.write(w, item.parameter)
        w.out += self.undecoded


@register(MessageId.VEHICLE_CONTROL_RESPONSE)
@dataclass(slots=True, kw_only=True)
class VehicleControlResponse(Body):
    """0x0500: the location after acting on the 0x8500 with serial ``reply_serial``."""

    reply_serial: Word
    location: Annotated[LocationReport, LOCATION]


__all__ = [
    "CONTROL_PARAMETERS",
    "ControlItem",
    "ControlType",
    "DoorCommand",
    "VehicleControl",
    "VehicleControlFlag",
    "VehicleControlResponse",
]
