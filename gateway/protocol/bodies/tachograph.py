"""Tachograph and driver: 0x8700 collect, 0x0700 upload, 0x8701 parameter download, 0x0701
electronic waybill, 0x8702 request driver identity and 0x0702 driver identity report
(JT/T 808-2019 §8.48-§8.52, tables 62-66; 2013 tables 71-75).

Tachograph data blocks are GB/T 19056 frames, kept as bytes. The 2011 draft's 0x0700 (no reply
serial, two extra length WORDs) is not supported: no implementation reads it, and every revision
uses the 2013 layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import Annotated, Any, Final, Self

from ..body import Body, register
from ..errors import EncodeError
from ..ids import MessageId
from ..versions import V2013, V2019
from ..wire import (
    BCD_TIME,
    U8,
    U32,
    BcdDate,
    Byte,
    Bytes,
    FixedText,
    Layout,
    Reader,
    Text,
    Wire,
    Word,
    Writer,
    encode_text,
    plan_for,
)
from .multimedia import Code


@dataclass(slots=True, kw_only=True)
class _TachographCommand(Body):
    command: Byte
    data: Annotated[bytes, Bytes()] = b""


@register(MessageId.TACHOGRAPH_COLLECT)
@dataclass(slots=True, kw_only=True)
class TachographCollect(_TachographCommand):
    """0x8700: collect tachograph data; ``command`` is the GB/T 19056 command word, ``data``
    the GB/T 19056 data block (may be empty). Answered with 0x0700."""


@register(MessageId.TACHOGRAPH_UPLOAD)
@dataclass(slots=True, kw_only=True)
class TachographUpload(Body):
    """0x0700: tachograph data collected for the 0x8700 with serial ``reply_serial``.

    2011 uses this layout too: the draft's form (no reply serial, two length WORDs) is read by
    no implementation, and its lengths duplicate the header's.
    """

    reply_serial: Word
    command: Byte
    data: Annotated[bytes, Bytes()] = b""


@register(MessageId.TACHOGRAPH_SET)
@dataclass(slots=True, kw_only=True)
class TachographParameterDownload(_TachographCommand):
    """0x8701: set tachograph parameters (GB/T 19056 command word and data block). Answered
    with 0x0001."""


@register(MessageId.ELECTRONIC_WAYBILL)
@dataclass(slots=True, kw_only=True)
class ElectronicWaybill(Body):
    """0x0701: an electronic waybill, opaque bytes with a DWORD length. Answered with 0x8001."""

    content: Annotated[bytes, Bytes(prefix=U32)]


@register(MessageId.REQUEST_DRIVER_IDENTITY, since=V2013)
@dataclass(slots=True, kw_only=True)
class RequestDriverIdentity(Body):
    """0x8702: ask for the driver's identity; empty body. Answered with 0x0702."""


class CardStatus(IntEnum):
    """0x0702 status: the qualification IC card was inserted (on duty) or removed (off duty)."""

    INSERTED = 0x01
    REMOVED = 0x02


class CardReadResult(IntEnum):
    SUCCESS = 0x00
    KEY_AUTHENTICATION_FAILED = 0x01
    CARD_LOCKED = 0x02
    CARD_PULLED_OUT = 0x03
    CHECKSUM_ERROR = 0x04


def _card_inserted(f: Any) -> bool:
    return bool(f["status"] == CardStatus.INSERTED)


def _card_read(f: Any) -> bool:
    return bool(f["status"] == CardStatus.INSERTED and f["read_result"] == CardReadResult.SUCCESS)


@dataclass(slots=True, kw_only=True)
class _DriverCard2011(Layout):
    """The 2011 layout of 0x0702: the card data only, no status, time or read result."""

    driver_name: Annotated[str, Text(prefix=U8)]
    id_card_number: Annotated[str, FixedText(20)]
    qualification_number: Annotated[str, FixedText(40)]
    issuing_authority: Annotated[str, Text(prefix=U8)]


_STATUS_BYTES: Final = frozenset(CardStatus)
_ID_CARD_2019: Final = Wire(FixedText(20), v2011=None, v2013=None, when=_card_read)


@register(MessageId.DRIVER_IDENTITY)
@dataclass(slots=True, kw_only=True)
class DriverIdentityReport(Body):
    """0x0702: the driver's qualification card, on request (0x8702) or on insert/removal.

    2013/2019: ``status`` and ``time``; ``read_result`` only when the card was inserted (a
    removal is a 7-byte body, as the standard and SmallChi read it; YZH reads on); the card
    fields only when the read succeeded; ``id_card_number`` only in 2019.

    ``status`` ``None`` is the 2011 layout (name, ID card[20], qualification[40], authority).
    Outside 2019 the first byte tells the layouts apart, as SmallChi does: 0x01/0x02 is a status,
    anything else a 2011 name length. So in 2011/2013 a status must be 1 or 2 and a 2011-layout
    name must not be 1 or 2 bytes long, or the body would read back as the other layout.
    """

    status: Annotated[int | None, Code(1, CardStatus)]
    time: Annotated[datetime | None, BCD_TIME] = None
    read_result: Annotated[int | None, Wire(Code(1, CardReadResult), when=_card_inserted)] = None
    driver_name: Annotated[str, Wire(Text(prefix=U8), when=_card_read)] = ""
    qualification_number: Annotated[str, Wire(FixedText(20), when=_card_read)] = ""
    issuing_authority: Annotated[str, Wire(Text(prefix=U8), when=_card_read)] = ""
    licence_expiry: Annotated[date | None, Wire(BcdDate(), when=_card_read)] = None
    id_card_number: Annotated[str, _ID_CARD_2019] = ""

    @classmethod
    def read(cls, r: Reader) -> Self:
        if r.version is not V2019 and r.remaining and r.data[r.pos] not in _STATUS_BYTES:
            card = _DriverCard2011.read(r)
            return cls(
                status=None,
                driver_name=card.driver_name,
                id_card_number=card.id_card_number,
                qualification_number=card.qualification_number,
                issuing_authority=card.issuing_authority,
            )
        return plan_for(cls, r.version).read(r)  # type: ignore[no-any-return]

    def write(self, w: Writer) -> None:
        if self.status is None:
            self._write_2011_layout(w)
            return
        if w.version is not V2019 and self.status not in _STATUS_BYTES:
            raise EncodeError(
                f"DriverIdentityReport.status: {self.status} would read back as a 2011-layout "
                "name length; before 2019 it must be 1 (inserted) or 2 (removed)"
            )
        plan_for(type(self), w.version).write(w, self)

    def _write_2011_layout(self, w: Writer) -> None:
        if w.version is V2019:
            raise EncodeError("the 2011 layout of 0x0702 (status None) does not exist in 2019")
        if len(encode_text(self.driver_name)) in _STATUS_BYTES:
            raise EncodeError(
                f"DriverIdentityReport.driver_name: a {len(encode_text(self.driver_name))}-byte "
                "name in the 2011 layout would read back as a card status"
            )
        _DriverCard2011(
            driver_name=self.driver_name,
            id_card_number=self.id_card_number,
            qualification_number=self.qualification_number,
            issuing_authority=self.issuing_authority,
        ).write(w)


__all__ = [
    "CardReadResult",
    "CardStatus",
    "DriverIdentityReport",
    "ElectronicWaybill",
    "RequestDriverIdentity",
    "TachographCollect",
    "TachographParameterDownload",
    "TachographUpload",
]
