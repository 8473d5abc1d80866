"""0x8300 text, 0x8301-0x8304 / 0x0301-0x0303 events, questions and information services,
0x8400 call back and 0x8401 phone book (reference §3.25-§3.27)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    EncodeError,
    Message,
    MessageId,
    ProtocolVersion,
    TruncatedBodyError,
    decode_body,
    decode_frame,
)
from gateway.protocol.bodies.messaging import (
    CALL_BACK_NUMBER,
    TEXT_PRIORITY_MASK,
    Answer,
    CallBack,
    Contact,
    ContactFlag,
    Event,
    EventReport,
    EventSetting,
    EventSetType,
    InfoMenuItem,
    InfoMenuSetting,
    InfoOrder,
    InfoService,
    Question,
    QuestionAnswer,
    QuestionFlag,
    SetPhoneBook,
    TextFlag,
    TextMessage,
    TextPriority,
    TextType,
)
from gateway.protocol.body import Body

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .real_frames import real_frames_by_id
from .strategies import (
    CUSTOM,
    decode_layout,
    encode_layout,
    text_fitting,
)

ALL = (V2011, V2013, V2019)

CUSTOM[CALL_BACK_NUMBER] = lambda version: text_fitting(20)

BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (TextMessage, ALL),
    (EventSetting, ALL),
    (EventReport, ALL),
    (Question, ALL),
    (QuestionAnswer, ALL),
    (InfoMenuSetting, ALL),
    (InfoOrder, ALL),
    (InfoService, ALL),
    (CallBack, ALL),
    (SetPhoneBook, ALL),
]

test_body_properties = body_property_tests(BODIES)


# --------------------------------------------------------------------------------------------
# Golden bodies, written from the reference tables. The 830x/030x layouts are the 2013 ones in
# every revision, so each is checked in all three.

SAME_IN_ALL: list[tuple[Body, str]] = [
    (
        EventSetting(
            set_type=EventSetType.UPDATE,
            events=[Event(event_id=1, content="堵车"), Event(event_id=2, content="ok")],
        ),
        "01" "02" "01" "04" "b6c2b3b5" "02" "02" "6f6b",
    ),
    (EventSetting(set_type=EventSetType.DELETE_ALL), "00"),
    (
        EventSetting(set_type=EventSetType.DELETE_LISTED, events=[Event(event_id=7, content="")]),
        "04" "01" "07" "00",
    ),
    (EventReport(event_id=5), "05"),
    (
        Question(
            flag=QuestionFlag.URGENT | QuestionFlag.TTS,
            question="ok?",
            answers=[Answer(answer_id=1, content="yes"), Answer(answer_id=2, content="no")],
        ),
        "09" "03" "6f6b3f" "01" "0003" "796573" "02" "0002" "6e6f",
    ),
    (Question(flag=0, question="", answers=[]), "0000"),
    (QuestionAnswer(reply_serial=0x1234, answer_id=2), "1234" "02"),
    (
        InfoMenuSetting(set_type=2, items=[InfoMenuItem(info_type=1, name="news")]),
        "02" "01" "01" "0004" "6e657773",
    ),
    (InfoOrder(info_type=1, action=1), "01" "01"),
    (InfoService(info_type=1, content="hello"), "01" "0005" "68656c6c6f"),
    (CallBack(flag=1, phone="13800138000"), "01" "3133383030313338303030"),
    (
        SetPhoneBook(
            set_type=1,
            contacts=[Contact(flag=ContactFlag.INCOMING_AND_OUTGOING, phone="10086", name="张三")],
        ),
        "01" "01" "03" "05" "3130303836" "04" "d5c5c8fd",
    ),
]  # fmt: skip

GOLDEN: list[tuple[Body, ProtocolVersion, str]] = [
    (body, version, golden) for body, golden in SAME_IN_ALL for version in ALL
] + [
    (TextMessage(flag=TextFlag.DISPLAY | TextFlag.TTS, text="hello"), V2011, "0c68656c6c6f"),
    (
        TextMessage(flag=TextFlag.URGENT | TextFlag.DISPLAY | TextFlag.CAN_FAULT_CODE, text="你好"),
        V2013,
        "25c4e3bac3",
    ),
    (
        TextMessage(
            flag=TextPriority.URGENT | TextFlag.DISPLAY | TextFlag.TTS,
            text_type=TextType.SERVICE,
            text="hello",
        ),
        V2019,
        "0e0268656c6c6f",
    ),
]

test_golden_bytes = golden_bytes_test(GOLDEN)


def test_text_type_exists_only_in_2019() -> None:
    body = TextMessage(flag=0x04, text_type=TextType.SERVICE, text="a")
    assert encode_layout(body, V2013).hex() == "0461"
    assert encode_layout(body, V2019).hex() == "040261"


def test_2019_text_priority_is_bits_0_and_1_together() -> None:
    body = decode_layout(TextMessage, bytes.fromhex("070161"), V2019)
    assert TextPriority(body.flag & TEXT_PRIORITY_MASK) is TextPriority.NOTIFICATION
    assert body.flag & TextFlag.DISPLAY


def test_2011_text_drops_its_zero_terminator() -> None:
    body = decode_layout(TextMessage, bytes.fromhex("0468656c6c6f00"), V2011)
    assert body.text == "hello"


def test_event_delete_all_with_a_count_leaves_the_count_as_trailing_bytes() -> None:
    body, trailing = decode_body(MessageId.EVENT_SETTING, bytes.fromhex("0000"), V2013)
    assert body == EventSetting(set_type=0)
    assert trailing == b"\x00"


def test_call_back_number_padded_to_20_bytes_decodes_to_the_number() -> None:
    padded = b"\x00" + b"10086".ljust(20, b"\x00")
    assert decode_layout(CallBack, padded, V2013).phone == "10086"


def test_call_back_refuses_a_number_over_20_bytes() -> None:
    with pytest.raises(EncodeError):
        encode_layout(CallBack(flag=0, phone="1" * 21), V2013)


def test_text_message_refuses_more_than_1024_bytes() -> None:
    encode_layout(TextMessage(flag=0, text="字" * 512), V2013)
    with pytest.raises(EncodeError):
        encode_layout(TextMessage(flag=0, text="a" * 1025), V2013)


# --------------------------------------------------------------------------------------------
# Real frames of the shared vectors (the copy in the repository, else shared/ beside the clone).

VECTORS: dict[str, dict[str, Any]] = real_frames_by_id()


def vector_message(vector_id: str) -> tuple[Message, dict[str, Any]]:
    """The decoded frame of a vector and the body values the vector asserts."""
    vector = VECTORS[vector_id]
    return decode_frame(bytes.fromhex(vector["hex"])), vector["expect"]["body"]


@pytest.mark.parametrize(
    ("vector_id", "version"),
    [("v164", V2013), ("v165", V2019), ("v212", V2013)],
    ids=["smallchi-2013", "smallchi-2019", "go-jt808-gbk"],
)
def test_real_text_messages(vector_id: str, version: ProtocolVersion) -> None:
    message, expect = vector_message(vector_id)
    assert message.header.version is version
    assert message.body == TextMessage(
        flag=expect["text_flag"],
        text_type=expect.get("text_type", TextType.NOTIFICATION),
        text=expect["text"],
    )
    assert message.trailing == b""


def test_real_question_with_two_answers() -> None:
    message, expect = vector_message("v213")  # go-jt808
    assert message.body == Question(
        flag=expect["flag"],
        question=expect["question"],
        answers=[Answer(answer_id=a["id"], content=a["text"]) for a in expect["answers"]],
    )
    assert len(expect["answers"]) == 2


def test_real_question_answer() -> None:
    message, expect = vector_message("v214")  # go-jt808
    assert message.body == QuestionAnswer(
        reply_serial=expect["reply_serial"], answer_id=expect["answer_id"]
    )
    assert message.body == QuestionAnswer(reply_serial=61252, answer_id=127)


# --------------------------------------------------------------------------------------------
# Truncation.

test_every_truncation_is_a_truncated_body_error = truncation_test(
    [
        (type(body), version, golden, None)
        for body, version, golden in GOLDEN
        if not isinstance(body, TextMessage | Question | CallBack)
    ]
)


@pytest.mark.parametrize(
    ("cls", "version", "data"),
    [
        (TextMessage, V2013, ""),
        (TextMessage, V2019, "0e"),
        (CallBack, V2019, ""),
        (Question, V2013, "09"),
        (Question, V2013, "09036f6b"),
        (Question, V2013, "09036f6b3f0100"),
        (Question, V2013, "09036f6b3f01000379"),
    ],
)
def test_truncated_bodies_ending_in_open_text_or_lists(
    cls: type[Body], version: ProtocolVersion, data: str
) -> None:
    with pytest.raises(TruncatedBodyError):
        cls.decode(bytes.fromhex(data), version)
