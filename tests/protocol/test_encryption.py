"""RSA body encryption: the block scheme, keys as 0x8A00/0x0A00 carry them, and the session's
key exchange, decryption of uplinks and encryption of commands (through the null modem)."""

from __future__ import annotations

import dataclasses
from typing import Final

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import V2013, V2019, ProtocolVersion, RawBody, ResultCode
from gateway.protocol.bodies.general import PlatformGeneralResponse
from gateway.protocol.bodies.location import LocationBatch, LocationReport, QueryLocation
from gateway.protocol.bodies.messaging import TextMessage
from gateway.protocol.bodies.passthrough import PlatformRsaKey, TerminalRsaKey
from gateway.protocol.bodies.registration import TerminalAuthenticate, TerminalRegister
from gateway.protocol.body import Body, decode_body
from gateway.protocol.commands import CommandAnswered
from gateway.protocol.encryption import (
    MODULUS_BYTES,
    PLAIN_BLOCK,
    DecryptionError,
    RsaKeyError,
    RsaKeyPair,
    RsaPublicKey,
)
from gateway.protocol.errors import EncodeError, UnsupportedMessageError
from gateway.protocol.framing import encode_frame
from gateway.protocol.header import RSA_ENCRYPTION, encode_header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message, encode_body
from gateway.protocol.session import FrameRejected, MessageReceived, SessionEvent
from gateway.protocol.subpackage import Reassembler, encode_split

from .null_modem import NullModem, Terminal, location

PLATFORM: Final = RsaKeyPair.generate()
TERMINAL: Final = RsaKeyPair.generate()
STRANGER: Final = RsaKeyPair.generate()
VERSIONS = pytest.mark.parametrize("version", [V2013, V2019])


# ---- the scheme ----------------------------------------------------------------------------


@given(st.binary(max_size=600))
def test_encryption_round_trips_in_blocks_of_117_to_128(plain: bytes) -> None:
    cipher = PLATFORM.public.encrypt(plain)
    blocks = -(-len(plain) // PLAIN_BLOCK)
    assert len(cipher) == blocks * MODULUS_BYTES
    assert PLATFORM.decrypt(cipher) == plain


def test_another_key_or_damage_does_not_decrypt() -> None:
    cipher = PLATFORM.public.encrypt(b"a location report")
    with pytest.raises(DecryptionError, match="does not decrypt with this side's key"):
        STRANGER.decrypt(cipher)
    damaged = bytes([cipher[0] ^ 0x40]) + cipher[1:]
    with pytest.raises(DecryptionError):
        PLATFORM.decrypt(damaged)
    with pytest.raises(DecryptionError, match="not whole 128-byte blocks"):
        PLATFORM.decrypt(cipher[:-1])
    with pytest.raises(DecryptionError):
        PLATFORM.decrypt(b"\xff" * MODULUS_BYTES)  # larger than the modulus
    assert DecryptionError("x").result_code is ResultCode.MESSAGE_ERROR


def test_keys_travel_as_0x8a00_and_0x0a00_bodies() -> None:
    body = PLATFORM.platform_body()
    assert isinstance(body, PlatformRsaKey) and body.exponent == 65537
    assert RsaPublicKey.of(body) == PLATFORM.public
    assert RsaPublicKey.of(TERMINAL.terminal_body()) == TERMINAL.public
    assert RsaKeyPair.from_pem(PLATFORM.to_pem()).public == PLATFORM.public
    assert "PRIVATE" not in repr(PLATFORM)


@pytest.mark.parametrize(
    ("exponent", "modulus", "message"),
    [
        (65537, b"\x00" + b"\xff" * 127, "1016 bits"),
        (65536, b"\xff" * 128, "not an odd number"),
        (1, b"\xff" * 128, "not an odd number >= 3"),
    ],
)
def test_unusable_keys_are_refused(exponent: int, modulus: bytes, message: str) -> None:
    with pytest.raises(RsaKeyError, match=message):
        RsaPublicKey.of(TerminalRsaKey(exponent=exponent, modulus=modulus))


def test_a_key_that_does_not_fit_0x8a00_is_refused() -> None:
    with pytest.raises(RsaKeyError, match="2048-bit RSA key cannot go in 0x8A00"):
        RsaKeyPair(rsa.generate_private_key(65537, 2048))
    with pytest.raises(RsaKeyError, match="not an unencrypted PEM"):
        RsaKeyPair.from_pem(b"nothing")


# ---- the session ---------------------------------------------------------------------------


def encrypted_frame(
    terminal: Terminal,
    body: Body,
    key: RsaPublicKey | None = PLATFORM.public,
    *,
    msg_id: int | None = None,
) -> bytes:
    """A frame with the encryption bit whose body is encrypted with ``key`` (None: sent as is,
    a body that only claims to be encrypted)."""
    header = terminal.header(body.MSG_ID if msg_id is None else msg_id)
    header = dataclasses.replace(header, encryption=RSA_ENCRYPTION)
    data = encode_body(body, terminal.version)
    if key is not None:
        data = key.encrypt(data)
    return encode_frame(encode_header(header, len(data)) + data)


def logged_in(version: ProtocolVersion, *, rsa: RsaKeyPair | None = PLATFORM) -> NullModem:
    modem = NullModem(Terminal(version), rsa=rsa)
    modem.log_in()
    modem.replies()
    return modem


def exchanged(version: ProtocolVersion) -> NullModem:
    """Logged in, and the terminal has sent its key (and got the platform's)."""
    modem = logged_in(version)
    modem.send(modem.terminal.frame(TERMINAL.terminal_body()))
    modem.replies()
    return modem


def acks(modem: NullModem) -> list[PlatformGeneralResponse]:
    return [m.body for m in modem.replies() if isinstance(m.body, PlatformGeneralResponse)]


def delivered(events: list[SessionEvent]) -> list[Body]:
    return [e.message.body for e in events if isinstance(e, MessageReceived)]


@VERSIONS
def test_a_terminal_key_is_answered_with_the_platform_key_once(version: ProtocolVersion) -> None:
    modem = logged_in(version)
    events = modem.send(modem.terminal.frame(TERMINAL.terminal_body()))
    assert delivered(events) == [TERMINAL.terminal_body()]
    [reply] = modem.replies()
    assert reply.body == PLATFORM.platform_body()
    assert reply.header.encryption == 0  # keys always travel in clear
    assert modem.session.terminal_rsa_key == TERMINAL.public
    # The terminal answering our 0x8A00 with its 0x0A00 again gets a plain acknowledgement.
    modem.send(modem.terminal.frame(TERMINAL.terminal_body()))
    assert [a.result for a in acks(modem)] == [ResultCode.SUCCESS]


@VERSIONS
def test_an_encrypted_location_is_decrypted_and_delivered(version: ProtocolVersion) -> None:
    modem = exchanged(version)
    report = location(speed=72.0)
    events = modem.send(encrypted_frame(modem.terminal, report))
    [body] = delivered(events)
    assert isinstance(body, LocationReport) and body.speed == 72.0
    [answer] = acks(modem)
    assert (answer.reply_id, answer.result) == (MessageId.LOCATION_REPORT, ResultCode.SUCCESS)


def test_an_encrypted_sub_packaged_message_is_reassembled_then_decrypted() -> None:
    modem = exchanged(V2013)
    terminal = modem.terminal
    batch = LocationBatch(type=0, items=[location(direction=i) for i in range(40)])
    data = PLATFORM.public.encrypt(encode_body(batch, V2013))
    template = dataclasses.replace(terminal.header(batch.MSG_ID, serial=0), encryption=1)
    split = encode_split(template, data, terminal.next_serial)
    assert len(split.frames) > 1
    events = modem.send(*split.frames)
    [body] = delivered(events)
    assert isinstance(body, LocationBatch) and len(body.items) == 40


@pytest.mark.parametrize("damage", ["another key", "not whole blocks", "bad plain body"])
def test_an_undecryptable_body_gets_result_2_and_is_not_delivered(damage: str) -> None:
    modem = exchanged(V2013)
    terminal = modem.terminal
    frame = {
        "another key": lambda: encrypted_frame(terminal, location(), STRANGER.public),
        "not whole blocks": lambda: encrypted_frame(
            terminal, RawBody(raw=b"\x01" * 127), None, msg_id=MessageId.LOCATION_REPORT
        ),
        "bad plain body": lambda: encrypted_frame(  # decrypts, but is too short for a 0x0200
            terminal, RawBody(raw=b"\x00" * 10), msg_id=MessageId.LOCATION_REPORT
        ),
    }[damage]()
    events = modem.send(frame)
    assert delivered(events) == []
    [rejected] = [e for e in events if isinstance(e, FrameRejected)]
    assert rejected.answered is ResultCode.MESSAGE_ERROR
    [answer] = acks(modem)
    assert answer.result == ResultCode.MESSAGE_ERROR


def test_an_encrypted_body_before_authentication_gets_result_3() -> None:
    modem = NullModem(Terminal(V2013), rsa=PLATFORM)
    events = modem.send(encrypted_frame(modem.terminal, TerminalAuthenticate(auth_code="code")))
    [rejected] = [e for e in events if isinstance(e, FrameRejected)]
    assert isinstance(rejected.error, UnsupportedMessageError)
    assert "only after authentication" in str(rejected.error)
    assert modem.session.awaiting_decision is None
    [answer] = acks(modem)
    assert (answer.reply_id, answer.result) == (MessageId.TERMINAL_AUTHENTICATE, 3)


def test_an_encrypted_registration_never_reaches_the_auth_backend() -> None:
    """An encrypted 0x0100 cannot be read before authentication: result 3, no decision."""
    modem = NullModem(Terminal(V2013), rsa=PLATFORM)
    body = TerminalRegister(
        province_id=1, city_id=2, manufacturer_id="M", terminal_model="X", terminal_id="T",
        plate_color=1, plate="A1",
    )  # fmt: skip
    modem.send(encrypted_frame(modem.terminal, body))
    assert modem.session.awaiting_decision is None
    assert [a.result for a in acks(modem)] == [ResultCode.UNSUPPORTED]


def test_without_a_platform_key_encryption_is_unsupported() -> None:
    modem = logged_in(V2013, rsa=None)
    events = modem.send(encrypted_frame(modem.terminal, location()))
    assert delivered(events) == []
    modem.send(modem.terminal.frame(TERMINAL.terminal_body()))
    assert [a.result for a in acks(modem)] == [ResultCode.UNSUPPORTED] * 2
    assert modem.session.terminal_rsa_key is None


def test_an_unusable_terminal_key_gets_result_2() -> None:
    modem = logged_in(V2013)
    bad = TerminalRsaKey(exponent=3, modulus=b"\x00" * 128)
    events = modem.send(modem.terminal.frame(bad))
    assert any(isinstance(e, FrameRejected) for e in events)
    assert [a.result for a in acks(modem)] == [ResultCode.MESSAGE_ERROR]
    assert modem.session.terminal_rsa_key is None


@VERSIONS
def test_commands_to_a_terminal_that_sent_its_key_are_encrypted(version: ProtocolVersion) -> None:
    modem = exchanged(version)
    text = TextMessage(flag=0x08, text="车辆请回场" * 90)  # long: encrypted, then split
    modem.session.send_command(text, modem.now, timeout=30)
    frames = modem.session.data_to_send()
    messages = modem.terminal.receive(frames)
    assert len(messages) > 1 and all(m.header.encryption == RSA_ENCRYPTION for m in messages)
    reassembler = Reassembler()
    done = None
    for message in messages:
        done = reassembler.receive_fragment(message, 0.0)
    assert done is not None and done.message is not None
    assert isinstance(done.message.body, RawBody)
    plain, _ = decode_body(MessageId.TEXT_MESSAGE, TERMINAL.decrypt(done.message.body.raw), version)
    assert plain == text


def test_an_empty_command_body_goes_in_clear_even_to_a_terminal_with_a_key() -> None:
    modem = exchanged(V2013)
    modem.session.send_command(QueryLocation(), modem.now, timeout=30)
    [message] = modem.replies()
    assert message.header.encryption == 0 and isinstance(message.body, QueryLocation)


def test_the_reply_to_a_raw_0x8a00_completes_it_without_a_platform_key() -> None:
    modem = logged_in(V2013, rsa=None)
    command = modem.session.send_command(
        STRANGER.platform_body(), modem.now, timeout=30
    )  # an operator's own key: this session cannot use it, but the terminal can answer it
    modem.replies()
    events = modem.send(modem.terminal.frame(TERMINAL.terminal_body()))
    [answered] = [e for e in events if isinstance(e, CommandAnswered)]
    assert answered.command_id == command.command_id
    assert modem.session.terminal_rsa_key is None


def test_commands_go_in_clear_to_a_terminal_that_sent_no_key() -> None:
    modem = logged_in(V2013)
    modem.session.send_command(TextMessage(flag=0x08, text="hi"), modem.now, timeout=30)
    [message] = modem.replies()
    assert message.header.encryption == 0 and isinstance(message.body, TextMessage)


def test_0x8a00_with_an_empty_body_sends_the_platform_key_and_learns_the_reply() -> None:
    modem = logged_in(V2013)
    command = modem.session.send_command(
        RawBody(raw=b""), modem.now, timeout=30, msg_id=MessageId.PLATFORM_RSA_KEY
    )
    [sent] = modem.replies()
    assert sent.body == PLATFORM.platform_body()
    events = modem.send(modem.terminal.frame(TERMINAL.terminal_body()))
    [answered] = [e for e in events if isinstance(e, CommandAnswered)]
    assert answered.command_id == command.command_id
    assert modem.session.terminal_rsa_key == TERMINAL.public
    assert modem.replies() == []  # the reply to our command is not answered again


def test_0x8a00_with_another_key_is_refused_before_sending() -> None:
    modem = logged_in(V2013)
    with pytest.raises(EncodeError, match="own RSA key"):
        modem.session.send_command(STRANGER.platform_body(), modem.now, timeout=30)
    assert modem.replies() == []


def test_a_decrypted_message_keeps_its_header_flag() -> None:
    modem = exchanged(V2013)
    events = modem.send(encrypted_frame(modem.terminal, location()))
    [message] = [e.message for e in events if isinstance(e, MessageReceived)]
    assert isinstance(message, Message) and message.header.encryption == RSA_ENCRYPTION
