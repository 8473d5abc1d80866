"""Text, events, questions, information services, call back and phone book.

0x8300 text message, 0x8301/0x0301 events, 0x8302/0x0302 questions, 0x8303/0x0303 information
menu, 0x8304 information service (JT/T 808-2013 tables 37-49), 0x8400 call back and 0x8401 phone
book (2013 tables 50-52, 2019 tables 37-41).

The 2019 text drops the bodies of 0x8301-0x8304 and 0x0301-0x0303 but still lists their ids;
they are decoded with the 2013 layouts in every revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Annotated, Final

from ..body import Body, register
from ..errors import EncodeError
from ..ids import MessageId
from ..versions import V2019
from ..wire import U8, U16, Byte, Int, Layout, ListOf, Text, Wire, Word, Writer, encode_text


class BoundedText(Text):
    """STRING that may be at most ``max_bytes`` long when written (decoding is lenient)."""

    def __init__(self, max_bytes: int, prefix: Int | None = None) -> None:
        super().__init__(prefix)
        self.max_bytes = max_bytes

    def write(self, w: Writer, value: str) -> None:
        size = len(encode_text(value))
        if size > self.max_bytes:
            raise EncodeError(
                f"{size} bytes in GB 18030, more than the {self.max_bytes} the standard allows"
            )
        super().write(w, value)


#: 0x8300 text: at most 1024 bytes, to the end of the body.
MESSAGE_TEXT: Final = BoundedText(1024)
#: 0x8400 phone number: at most 20 bytes, to the end of the body.
CALL_BACK_NUMBER: Final = BoundedText(20)


# --------------------------------------------------------------------------------------------
# 0x8300 text message.


class TextFlag(IntFlag):
    """Flag bits of 0x8300 in 2011/2013 (2013 table 38). 2019 reads bits 0-1 as a
    ``TextPriority`` and makes bit 4 reserved; bits 2, 3 and 5 mean the same in all three."""

    URGENT = 1 << 0  # 2011/2013
    DISPLAY = 1 << 2
    TTS = 1 << 3
    ADVERTISING_SCREEN = 1 << 4  # 2011/2013; reserved in 2019
    CAN_FAULT_CODE = 1 << 5  # 2013+: 0 navigation information, 1 CAN fault-code information


class TextPriority(IntEnum):
    """2019: bits 0-1 of the 0x8300 flag taken together (2019 table 38)."""

    SERVICE = 0b01
    URGENT = 0b10
    NOTIFICATION = 0b11


TEXT_PRIORITY_MASK: Final = 0b11


class TextType(IntEnum):
    """2019 text type BYTE of 0x8300."""

    NOTIFICATION = 1
    SERVICE = 2


@register(MessageId.TEXT_MESSAGE)
@dataclass(slots=True, kw_only=True)
class TextMessage(Body):
    """0x8300: show and/or read out a text (GBK, at most 1024 bytes). Answered with 0x0001.

    ``flag`` is the raw BYTE: ``TextFlag`` bits in 2011/2013, ``TextPriority`` in bits 0-1 plus
    ``TextFlag`` bits 2, 3, 5 in 2019. 2019 adds ``text_type`` (``TextType``).
    """

    flag: Byte
    text_type: Annotated[int, Wire(U8, since=V2019)] = TextType.NOTIFICATION
    text: Annotated[str, MESSAGE_TEXT]


# --------------------------------------------------------------------------------------------
# 0x8301 / 0x0301 events.


class EventSetType(IntEnum):
    """Set type of 0x8301."""

    DELETE_ALL = 0  # nothing follows the set type
    UPDATE = 1  # delete all, then add the events listed
    APPEND = 2
    MODIFY = 3
    DELETE_LISTED = 4  # the events listed carry no content


@dataclass(slots=True, kw_only=True)
class Event(Layout):
    """One event of 0x8301: its id and text (BYTE length + STRING)."""

    event_id: Byte
    content: Annotated[str, Text(prefix=U8)]


@register(MessageId.EVENT_SETTING)
@dataclass(slots=True, kw_only=True)
class EventSetting(Body):
    """0x8301 (2011/2013): set the events a driver can report. Answered with 0x0001.

    With ``set_type`` 0 (delete all) the standard says nothing follows, so no count is read or
    written; a sender that still adds a 0 count leaves it as trailing bytes, kept by the caller.
    """

    set_type: Byte
    events: Annotated[
        list[Event], Wire(ListOf(Event, count=U8), when=lambda f: f["set_type"] != 0)
    ] = field(default_factory=list)


@register(MessageId.EVENT_REPORT)
@dataclass(slots=True, kw_only=True)
class EventReport(Body):
    """0x0301 (2011/2013): the driver reports an event set by 0x8301. Answered with 0x8001."""

    event_id: Byte


# --------------------------------------------------------------------------------------------
# 0x8302 / 0x0302 questions.


class QuestionFlag(IntFlag):
    """Flag bits of 0x8302 (2013 table 42)."""

    URGENT = 1 << 0
    TTS = 1 << 3
    ADVERTISING_SCREEN = 1 << 4


@dataclass(slots=True, kw_only=True)
class Answer(Layout):
    """One candidate answer of 0x8302: its id and text (WORD length + STRING)."""

    answer_id: Byte
    content: Annotated[str, Text(prefix=U16)]


@register(MessageId.QUESTION)
@dataclass(slots=True, kw_only=True)
class Question(Body):
    """0x8302 (2011/2013): ask the driver a question with candidate answers (to the end of the
    body). Answered with 0x0001, then 0x0302 once the driver chooses."""

    flag: Byte
    question: Annotated[str, Text(prefix=U8)]
    answers: Annotated[list[Answer], ListOf(Answer, count=None)]


@register(MessageId.QUESTION_ANSWER)
@dataclass(slots=True, kw_only=True)
class QuestionAnswer(Body):
    """0x0302 (2011/2013): the answer the driver chose for the 0x8302 ``reply_serial``."""

    reply_serial: Word
    answer_id: Byte


# --------------------------------------------------------------------------------------------
# 0x8303 / 0x0303 / 0x8304 information services.


class InfoMenuSetType(IntEnum):
    """Set type of 0x8303."""

    DELETE_ALL = 0
    UPDATE = 1
    APPEND = 2
    MODIFY = 3


@dataclass(slots=True, kw_only=True)
class InfoMenuItem(Layout):
    """One information type of 0x8303: its id and name (WORD length + STRING)."""

    info_type: Byte
    name: Annotated[str, Text(prefix=U16)]


@register(MessageId.INFO_MENU_SETTING)
@dataclass(slots=True, kw_only=True)
class InfoMenuSetting(Body):
    """0x8303 (2011/2013): set the menu of information a driver can order. Answered with
    0x0001."""

    set_type: Byte
    items: Annotated[list[InfoMenuItem], ListOf(InfoMenuItem, count=U8)]


class InfoOrderAction(IntEnum):
    CANCEL = 0
    ORDER = 1


@register(MessageId.INFO_ORDER)
@dataclass(slots=True, kw_only=True)
class InfoOrder(Body):
    """0x0303 (2011/2013): the driver orders (1) or cancels (0) an information type.
    Answered with 0x8001."""

    info_type: Byte
    action: Byte


@register(MessageId.INFO_SERVICE)
@dataclass(slots=True, kw_only=True)
class InfoService(Body):
    """0x8304 (2011/2013): information of an ordered type (WORD length + STRING). Answered
    with 0x0001."""

    info_type: Byte
    content: Annotated[str, Text(prefix=U16)]


# --------------------------------------------------------------------------------------------
# 0x8400 call back, 0x8401 phone book.


class CallBackType(IntEnum):
    NORMAL_CALL = 0
    LISTEN_IN = 1  # the terminal's speaker stays off


@register(MessageId.CALL_BACK)
@dataclass(slots=True, kw_only=True)
class CallBack(Body):
    """0x8400: make the terminal call ``phone`` (at most 20 bytes). Answered with 0x0001.

    The number is a STRING to the end of the body, as the standard has it; yezhihao's fixed
    20-byte field still decodes to the same number since trailing 0x00 are dropped.
    """

    flag: Byte
    phone: Annotated[str, CALL_BACK_NUMBER]


class PhoneBookSetType(IntEnum):
    DELETE_ALL = 0
    UPDATE = 1  # delete all, then add the contacts listed
    APPEND = 2
    MODIFY = 3  # keyed by the contact's name


class ContactFlag(IntEnum):
    INCOMING = 1
    OUTGOING = 2
    INCOMING_AND_OUTGOING = 3


@dataclass(slots=True, kw_only=True)
class Contact(Layout):
    """One phone-book entry: which calls are allowed (``ContactFlag``), number and name, each
    text a BYTE length + STRING."""

    flag: Byte
    phone: Annotated[str, Text(prefix=U8)]
    name: Annotated[str, Text(prefix=U8)]


@register(MessageId.SET_PHONE_BOOK)
@dataclass(slots=True, kw_only=True)
class SetPhoneBook(Body):
    """0x8401: replace, extend or edit the terminal's phone book. Answered with 0x0001."""

    set_type: Byte
    contacts: Annotated[list[Contact], ListOf(Contact, count=U8)]


__all__ = [
    "CALL_BACK_NUMBER",
    "MESSAGE_TEXT",
    "TEXT_PRIORITY_MASK",
    "Answer",
    "BoundedText",
    "CallBack",
    "CallBackType",
    "Contact",
    "ContactFlag",
    "Event",
    "EventReport",
    "EventSetType",
    "EventSetting",
    "InfoMenuItem",
    "InfoMenuSetType",
    "InfoMenuSetting",
    "InfoOrder",
    "InfoOrderAction",
    "InfoService",
    "PhoneBookSetType",
    "Question",
    "QuestionAnswer",
    "QuestionFlag",
    "TextFlag",
    "TextMessage",
    "TextPriority",
    "TextType",
]
