"""Multimedia: 0x0800 event, 0x0801 data, 0x8800 data response, 0x8801 take photo, 0x0805 take
photo response, 0x8802/0x0802 search, 0x8803 upload stored media, 0x8804 start recording and
0x8805 upload one item (JT/T 808-2019 §8.55-§8.63, tables 71-81; 2013 tables 80-90).

The 2011 approval draft differs in 0x0801 (packet counters instead of the location), 0x8800 (a
reply serial first) and 0x0802 (no media id, an extra count). No implementation reads those
layouts (SmallChi's own 2011 0x8800 test frame is the 2013 layout), so every revision here uses
the 2013 layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Final

from ..body import Body, register
from ..errors import EncodeError
from ..ids import MessageId
from ..versions import V2013
from ..wire import (
    BCD_TIME,
    U8,
    U16,
    U32,
    Byte,
    Bytes,
    Codec,
    DWord,
    Int,
    Layout,
    ListOf,
    Reader,
    Wire,
    Word,
    Writer,
)
from .location import BASIC_LOCATION, LocationReport


class Code(Int):
    """An unsigned integer code that decodes to a member of ``enum`` when it names one.

    Codes the standard does not list (vendor values, a newer revision) stay plain ints and are
    written back unchanged: an unknown code is never an error. Not fused into struct runs, so
    that every decoded value goes through ``read``.
    """

    def __init__(self, size: int, enum: type[IntEnum]) -> None:
        super().__init__(size)
        self.enum = enum
        self.fmt = None

    def read(self, r: Reader) -> int:
        value = super().read(r)
        try:
            return self.enum(value)
        except ValueError:
            return value

    def describe(self) -> str:
        return f"{super().describe()} {self.enum.__name__}"


class MediaType(IntEnum):
    IMAGE = 0
    AUDIO = 1
    VIDEO = 2


class MediaFormat(IntEnum):
    JPEG = 0
    TIF = 1
    MP3 = 2
    WAV = 3
    WMV = 4


class MediaEvent(IntEnum):
    """Event that triggered a capture (0x0800, 0x0801, 0x8802, 0x0802, 0x8803)."""

    PLATFORM_COMMAND = 0
    TIMED = 1
    ROBBERY_ALARM = 2
    COLLISION_ROLLOVER = 3
    DOOR_OPENED = 4  # 2013+
    DOOR_CLOSED = 5  # 2013+
    DOOR_CLOSED_SPEED_OVER_20 = 6  # 2013+: door open -> closed, speed from < 20 to > 20 km/h
    FIXED_DISTANCE = 7  # 2013+


class Resolution(IntEnum):
    """Camera resolution of 0x8801 (2019 adds ``LOWEST`` and ``HIGHEST``)."""

    LOWEST = 0x00  # 2019
    R320X240 = 0x01
    R640X480 = 0x02
    R800X600 = 0x03
    R1024X768 = 0x04
    QCIF_176X144 = 0x05
    CIF_352X288 = 0x06
    HALF_D1_704X288 = 0x07
    D1_704X576 = 0x08
    HIGHEST = 0xFF  # 2019


class AudioSampleRate(IntEnum):
    """Sample rate of 0x8804."""

    HZ_8000 = 0
    HZ_11000 = 1
    HZ_23000 = 2
    HZ_32000 = 3


class TakePhotoResult(IntEnum):
    SUCCESS = 0
    FAILURE = 1
    CHANNEL_NOT_SUPPORTED = 2


MEDIA_TYPE: Final = Code(1, MediaType)
MEDIA_FORMAT: Final = Code(1, MediaFormat)
MEDIA_EVENT: Final = Code(1, MediaEvent)
RESOLUTION: Final = Code(1, Resolution)
SAMPLE_RATE: Final = Code(1, AudioSampleRate)
TAKE_PHOTO_RESULT: Final = Code(1, TakePhotoResult)


#: The 28-byte basic location block (no additional items) inside 0x0801 and 0x0802 items.
LOCATION_BLOCK: Final[Codec[LocationReport]] = BASIC_LOCATION


@register(MessageId.MULTIMEDIA_EVENT)
@dataclass(slots=True, kw_only=True)
class MultimediaEvent(Body):
    """0x0800: the terminal announces a capture it is about to upload. Answered with 0x8001."""

    media_id: DWord
    media_type: Annotated[int, MEDIA_TYPE]
    media_format: Annotated[int, MEDIA_FORMAT]
    event: Annotated[int, MEDIA_EVENT]
    channel_id: Byte


@register(MessageId.MULTIMEDIA_DATA)
@dataclass(slots=True, kw_only=True)
class MultimediaData(Body):
    """0x0801: one photo, recording or video; usually sub-packaged (decode the reassembled body).

    ``location`` is the 28-byte basic location at the start of the capture, ``data`` the media
    file to the end of the body. Answered with 0x8800 once every packet arrived (or timed out).
    The 2011 draft's packet counters in place of the location are not supported (see module).
    """

    media_id: DWord
    media_type: Annotated[int, MEDIA_TYPE]
    media_format: Annotated[int, MEDIA_FORMAT]
    event: Annotated[int, MEDIA_EVENT]
    channel_id: Byte
    location: Annotated[LocationReport, LOCATION_BLOCK]
    data: Annotated[bytes, Bytes()] = b""


#: At most this many packet ids fit one 0x8800 (2019 table 73).
MAX_RETRANSMIT_IDS: Final = 125


class _RetransmitIds(Codec["list[int] | None"]):
    """Count BYTE + WORD packet ids, or nothing at all (``None``) when the body ends here.

    Only valid as the last field of a body: absence is told by the body having ended.
    """

    _IDS: Final = ListOf(U16, count=U8)

    def read(self, r: Reader) -> list[int] | None:
        return None if r.remaining == 0 else self._IDS.read(r)

    def write(self, w: Writer, value: list[int] | None) -> None:
        if value is None:
            return
        if len(value) > MAX_RETRANSMIT_IDS:
            raise EncodeError(
                f"{len(value)} packet ids, more than the {MAX_RETRANSMIT_IDS} of one 0x8800"
            )
        self._IDS.write(w, value)

    def describe(self) -> str:
        return "[BYTE count, WORD[count]]"


@register(MessageId.MULTIMEDIA_DATA_RESPONSE)
@dataclass(slots=True, kw_only=True)
class MultimediaDataResponse(Body):
    """0x8800: the platform confirms a 0x0801 or lists the packets (1-based indexes) to resend.

    ``retransmit_ids`` ``None``: nothing follows the media id, the standard's "all received".
    ``[]``: a count of 0 follows, which some platforms send instead; it is kept distinct so both
    forms round-trip byte for byte, but ``None`` is what a platform should send.
    """

    media_id: DWord
    retransmit_ids: Annotated[list[int] | None, _RetransmitIds()] = None

    @property
    def complete(self) -> bool:
        """True when no packet needs to be resent."""
        return not self.retransmit_ids


#: 0x8801 ``command`` values besides a photo count.
STOP_CAPTURE: Final = 0x0000
RECORD_VIDEO: Final = 0xFFFF


@register(MessageId.TAKE_PHOTO)
@dataclass(slots=True, kw_only=True)
class TakePhoto(Body):
    """0x8801: take photos or record video now.

    ``command`` is ``STOP_CAPTURE`` (0), ``RECORD_VIDEO`` (0xFFFF) or the number of photos;
    ``interval_s`` the photo interval or recording time (0 = minimum / until stopped);
    ``save`` 1 stores on the terminal, 0 uploads at once. Quality 1-10 (1 best), brightness and
    chroma 0-255, contrast and saturation 0-127. Answered with 0x0805 (2011: 0x0001).
    """

    channel_id: Byte
    command: Word
    interval_s: Word
    save: Byte
    resolution: Annotated[int, RESOLUTION]
    quality: Byte
    brightness: Byte
    contrast: Byte
    saturation: Byte
    chroma: Byte


@register(MessageId.TAKE_PHOTO_RESPONSE, since=V2013)
@dataclass(slots=True, kw_only=True)
class TakePhotoResponse(Body):
    """0x0805: the answer to 0x8801; the ids of the captured media follow only on success.

    The standard and SmallChi write the count and ids only when ``result`` is 0 (YZH always
    writes them): on failure anything after the result is kept as the message's trailing bytes.
    """

    reply_serial: Word
    result: Annotated[int, TAKE_PHOTO_RESULT]
    media_ids: Annotated[
        list[int], Wire(ListOf(U32, count=U16), when=lambda f: f["result"] == 0)
    ] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class _MediaFilter(Body):
    """Type, channel (0 = all), event and time window; times all zero (``None``) = no filter."""

    media_type: Annotated[int, MEDIA_TYPE]
    channel_id: Byte
    event: Annotated[int, MEDIA_EVENT]
    start_time: Annotated[datetime | None, BCD_TIME]
    end_time: Annotated[datetime | None, BCD_TIME]


@register(MessageId.SEARCH_MEDIA)
@dataclass(slots=True, kw_only=True)
class SearchMedia(_MediaFilter):
    """0x8802: list stored media matching the filter. Answered with 0x0802."""


@dataclass(slots=True, kw_only=True)
class MediaSearchItem(Layout):
    """One stored media item of 0x0802 (note the order: channel before event here)."""

    media_id: DWord
    media_type: Annotated[int, MEDIA_TYPE]
    channel_id: Byte
    event: Annotated[int, MEDIA_EVENT]
    location: Annotated[LocationReport, LOCATION_BLOCK]


@register(MessageId.SEARCH_MEDIA_RESPONSE)
@dataclass(slots=True, kw_only=True)
class SearchMediaResponse(Body):
    """0x0802: the media found by the 0x8802 with serial ``reply_serial``.

    2011 uses this layout too (the draft's items without media id are not supported, see module).
    """

    reply_serial: Word
    items: Annotated[list[MediaSearchItem], ListOf(MediaSearchItem, count=U16)] = field(
        default_factory=list
    )


@register(MessageId.UPLOAD_STORED_MEDIA)
@dataclass(slots=True, kw_only=True)
class UploadStoredMedia(_MediaFilter):
    """0x8803: upload the stored media matching the filter (as 0x0801); ``delete`` 1 deletes
    them afterwards, 0 keeps them. Answered with 0x0001."""

    delete: Byte


@register(MessageId.START_RECORDING)
@dataclass(slots=True, kw_only=True)
class StartRecording(Body):
    """0x8804: ``command`` 1 starts, 0 stops recording sound for ``duration_s`` (0 = until
    stopped); ``save`` 1 stores, 0 uploads in real time. Answered with 0x0001."""

    command: Byte
    duration_s: Word
    save: Byte
    sample_rate: Annotated[int, SAMPLE_RATE]


@register(MessageId.UPLOAD_ONE_MEDIA, since=V2013)
@dataclass(slots=True, kw_only=True)
class UploadOneMedia(Body):
    """0x8805: upload the stored media item ``media_id`` (as 0x0801); ``delete`` 1 deletes it
    afterwards. Answered with 0x0001 (inferred: the standard names no reply)."""

    media_id: DWord
    delete: Byte


__all__ = [
    "LOCATION_BLOCK",
    "MAX_RETRANSMIT_IDS",
    "MEDIA_EVENT",
    "MEDIA_FORMAT",
    "MEDIA_TYPE",
    "RECORD_VIDEO",
    "RESOLUTION",
    "SAMPLE_RATE",
    "STOP_CAPTURE",
    "TAKE_PHOTO_RESULT",
    "AudioSampleRate",
    "Code",
    "MediaEvent",
    "MediaFormat",
    "MediaSearchItem",
    "MediaType",
    "MultimediaData",
    "MultimediaDataResponse",
    "MultimediaEvent",
    "Resolution",
    "SearchMedia",
    "SearchMediaResponse",
    "StartRecording",
    "TakePhoto",
    "TakePhotoResponse",
    "TakePhotoResult",
    "UploadOneMedia",
    "UploadStoredMedia",
]
