"""SendCommand end to end: a real gRPC channel to a running gateway, simulated terminals that
answer like real ones (clients.simulator), and a scripted terminal that answers only when told
(tests.server.terminal_client) for retransmission, timeouts, disconnects and limits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import grpc
import grpc.aio
import pytest
from google.protobuf import duration_pb2

from gateway.protocol.bodies.general import TerminalGeneralResponse
from gateway.protocol.bodies.location import StatusFlag
from gateway.protocol.bodies.messaging import TextMessage
from gateway.protocol.body import Fragment
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message, encode_body
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.server.terminal_client import TerminalClient
from tests.timeouts import HANG_GUARD

from .harness import RunningApp, api_channel, fleet, phones, running_app
from .test_commands import CASES

if TYPE_CHECKING:
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

COMMAND_MEMBERS: Final = [
    f.name for f in api.SendCommandRequest.DESCRIPTOR.oneofs_by_name["command"].fields
]
REVISIONS: Final = (V2011, V2013, V2019)
GENERAL: Final = 0x0001
SUCCESS: Final = 0
UNSUPPORTED: Final = 3
OUTCOME_KEY: Final = "jt808-command-outcome"
#: gRPC deadline of calls that must finish promptly (a hung gateway fails the test, not CI).
RPC_TIMEOUT: Final = HANG_GUARD
#: How long a scripted terminal waits for a frame the gateway must send.
FRAME_TIMEOUT: Final = HANG_GUARD
#: The simulator numbers its fleet's phones from here (SimulationConfig.phone_start default).
PHONE_START: Final = 13_800_000_000


# --------------------------------------------------------------------------------------------
# Setup: a gateway with simulated terminals, or with one scripted terminal.


@dataclasses.dataclass
class Rig:
    app: RunningApp
    stub: GatewayServiceAsyncStub
    phones: list[str]

    @property
    def phone(self) -> str:
        return self.phones[0]


@asynccontextmanager
async def simulated(
    tmp_path: Path, version: ProtocolVersion = V2019, *, terminals: int = 1, **config: Any
) -> AsyncIterator[Rig]:
    """A gateway (``config`` changes its GatewayConfig) with ``terminals`` simulated terminals
    of ``version``, logged in, and a stub on a channel to its control plane."""
    async with (
        running_app(tmp_path, **config) as app,
        fleet(app, terminals=terminals, version=version),
        api_channel(app) as channel,
    ):
        yield Rig(app, api_grpc.GatewayServiceStub(channel), phones(app))


@asynccontextmanager
async def scripted(
    tmp_path: Path, *, version: ProtocolVersion = V2019, **config: Any
) -> AsyncIterator[tuple[Rig, TerminalClient]]:
    """A gateway with one logged-in terminal that reads frames and answers nothing by itself."""
    async with (
        running_app(tmp_path, **config) as app,
        TerminalClient.connect(app.addresses.terminals, version) as terminal,
        api_channel(app) as channel,
    ):
        await terminal.log_in()
        await wait_until(lambda: app.gateway.sessions.get(terminal.phone) is not None)
        yield Rig(app, api_grpc.GatewayServiceStub(channel), [terminal.phone]), terminal


async def wait_until(condition: Callable[[], bool], timeout: float = FRAME_TIMEOUT) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)


# --------------------------------------------------------------------------------------------
# Calls


@dataclasses.dataclass
class Outcome:
    """How one SendCommand ended: the response, or the status and trailing metadata."""

    code: grpc.StatusCode
    details: str = ""
    response: api.SendCommandResponse = dataclasses.field(default_factory=api.SendCommandResponse)
    trailing: dict[str, str] = dataclasses.field(default_factory=dict)


async def send(
    stub: GatewayServiceAsyncStub, request: api.SendCommandRequest, *, timeout: float = RPC_TIMEOUT
) -> Outcome:
    try:
        response = await stub.SendCommand(request, timeout=timeout)
    except grpc.aio.AioRpcError as error:
        trailing = {str(key): str(value) for key, value in error.trailing_metadata() or ()}
        return Outcome(error.code(), error.details() or "", trailing=trailing)
    return Outcome(grpc.StatusCode.OK, response=response)


async def answered(
    stub: GatewayServiceAsyncStub, request: api.SendCommandRequest
) -> api.SendCommandResponse:
    """The response of a call that must succeed."""
    outcome = await send(stub, request)
    assert outcome.code is grpc.StatusCode.OK, outcome
    return outcome.response


class BackgroundCall:
    """A SendCommand running in a task while the test plays the terminal."""

    def __init__(
        self,
        tasks: anyio.abc.TaskGroup,
        stub: GatewayServiceAsyncStub,
        request: api.SendCommandRequest,
        *,
        timeout: float = RPC_TIMEOUT,
    ) -> None:
        self._outcome: Outcome | None = None
        self._done = anyio.Event()
        tasks.start_soon(self._run, stub, request, timeout)

    async def _run(
        self, stub: GatewayServiceAsyncStub, request: api.SendCommandRequest, timeout: float
    ) -> None:
        self._outcome = await send(stub, request, timeout=timeout)
        self._done.set()

    async def outcome(self) -> Outcome:
        with anyio.fail_after(RPC_TIMEOUT):
            await self._done.wait()
        assert self._outcome is not None
        return self._outcome


def command(name: str, phone: str) -> api.SendCommandRequest:
    """The realistic request of test_commands.CASES for oneof member ``name``, to ``phone``."""
    request = api.SendCommandRequest()
    request.CopyFrom(CASES[name][0])
    request.phone = phone
    return request


def text_message(phone: str, text: str = "请回电", **fields: Any) -> api.SendCommandRequest:
    return api.SendCommandRequest(
        phone=phone, text_message=pb.TextMessage(flags=0b1000, text=text), **fields
    )


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1e9))
    return duration


# --------------------------------------------------------------------------------------------
# The scripted terminal's side


async def next_frame(terminal: TerminalClient, msg_id: int) -> Message:
    """The next frame of ``msg_id`` the gateway sends (other frames are skipped)."""
    while True:
        message = await terminal.receive(FRAME_TIMEOUT)
        if message.msg_id == msg_id:
            return message


async def frames_until_quiet(terminal: TerminalClient, quiet: float = 0.2) -> list[Message]:
    """Every frame the gateway sends until it is quiet for ``quiet`` seconds."""
    messages: list[Message] = []
    while True:
        try:
            messages.append(await terminal.receive(quiet))
        except TimeoutError:
            return messages


async def reply_general(
    terminal: TerminalClient, command_frame: Message, result: int = SUCCESS
) -> None:
    reply = TerminalGeneralResponse(
        reply_serial=command_frame.header.serial, reply_id=command_frame.msg_id, result=result
    )
    await terminal.send(terminal.terminal.frame(reply))


# --------------------------------------------------------------------------------------------
# 1. Every member of the `command` oneof, in every revision


ALL: Final = frozenset(REVISIONS)
SINCE_2013: Final = frozenset({V2013, V2019})
BEFORE_2019: Final = frozenset({V2011, V2013})  # removed by JT/T 808-2019
ONLY_2019: Final = frozenset({V2019})
NOWHERE: Final = frozenset[ProtocolVersion]()


@dataclasses.dataclass(frozen=True)
class Sent:
    request: api.SendCommandRequest
    phone: str
    version: ProtocolVersion


Check = Callable[[api.SendCommandResponse, Sent], None]


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a terminal of a revision that defines the command answers (others answer 0x0001
    result 3): its reply id, the typed ``reply`` member it fills, and what that must hold."""

    defined_in: frozenset[ProtocolVersion]
    reply_msg_id: int = GENERAL
    reply: str | None = None
    check: Check | None = None


def check_all_parameters(response: api.SendCommandResponse, sent: Sent) -> None:
    items = {item.id: item for item in response.parameters.parameters}
    assert len(items) == len(response.parameters.parameters) > 10
    heartbeat = items[0x0001]
    assert (heartbeat.name, heartbeat.WhichOneof("value")) == ("heartbeat_interval", "uint_value")
    assert heartbeat.raw == heartbeat.uint_value.to_bytes(4, "big")
    assert items[0x0013].string_value.startswith("127.0.0.1")  # the main server address


def check_queried_parameters(response: api.SendCommandResponse, sent: Sent) -> None:
    items = response.parameters.parameters
    assert [item.id for item in items] == list(sent.request.query_parameters.ids)
    assert [item.WhichOneof("value") for item in items] == [
        "uint_value",
        "string_value",
        "uint_value",
    ]


def check_attributes(response: api.SendCommandResponse, sent: Sent) -> None:
    attributes = response.attributes
    assert attributes.manufacturer_id == "SIM"
    assert attributes.terminal_model == "SIM-TK"
    assert attributes.terminal_id == "0000001"
    assert attributes.iccid == "89860000000000000001"


def check_location(response: api.SendCommandResponse, sent: Sent) -> None:
    location = response.location
    assert location.phone == sent.phone
    assert location.msg_id == response.reply_msg_id
    assert 0 < location.latitude < 90 and 0 < location.longitude < 180


def check_doors_locked(response: api.SendCommandResponse, sent: Sent) -> None:
    check_location(response, sent)
    assert response.location.status_flags & StatusFlag.DOOR_LOCKED  # the request locks them


def check_no_areas(response: api.SendCommandResponse, sent: Sent) -> None:
    assert response.areas == pb.AreasReply(query_type=sent.request.query_areas.query_type)


def check_tachograph(response: api.SendCommandResponse, sent: Sent) -> None:
    collect = sent.request.tachograph_collect.command
    assert response.tachograph.command == collect
    assert response.tachograph.data[:3] == bytes((0x55, 0x7A, collect))  # a GB/T 19056 frame


def check_driver(response: api.SendCommandResponse, sent: Sent) -> None:
    identity = response.driver_identity
    assert (identity.driver_name, identity.licence_expiry) == ("张三", "2030-12-31")
    assert identity.issuing_authority == "深圳市交通运输局"


def check_photo(response: api.SendCommandResponse, sent: Sent) -> None:
    assert response.photo.result == SUCCESS
    assert len(response.photo.media_ids) == sent.request.take_photo.command  # photos asked


def check_no_media(response: api.SendCommandResponse, sent: Sent) -> None:
    assert response.HasField("media_search")
    assert not response.media_search.items  # nothing recorded yet


def check_question_answer(response: api.SendCommandResponse, sent: Sent) -> None:
    # 0x0302 has no typed form: its body is the question's serial and the chosen answer.
    first_answer = sent.request.question.answers[0].answer_id
    assert response.raw_body == response.command_serial.to_bytes(2, "big") + bytes((first_answer,))


EXPECTED: Final[dict[str, Expected]] = {
    "text_message": Expected(ALL),
    "set_parameters": Expected(ALL),
    "query_all_parameters": Expected(ALL, 0x0104, "parameters", check_all_parameters),
    "query_parameters": Expected(SINCE_2013, 0x0104, "parameters", check_queried_parameters),
    "terminal_control": Expected(ALL),
    "query_attributes": Expected(SINCE_2013, 0x0107, "attributes", check_attributes),
    "upgrade_package": Expected(SINCE_2013),
    "query_location": Expected(ALL, 0x0201, "location", check_location),
    "temporary_tracking": Expected(ALL),
    "confirm_alarm": Expected(SINCE_2013),
    "link_check": Expected(ONLY_2019),
    "event_setting": Expected(BEFORE_2019),
    "question": Expected(BEFORE_2019, 0x0302, "raw_body", check_question_answer),
    "info_menu_setting": Expected(BEFORE_2019),
    "info_service": Expected(BEFORE_2019),
    "call_back": Expected(ALL),
    "set_phone_book": Expected(ALL),
    "vehicle_control": Expected(ALL, 0x0500, "location", check_doors_locked),
    "set_circle_areas": Expected(ALL),
    "delete_circle_areas": Expected(ALL),
    "set_rectangle_areas": Expected(ALL),
    "delete_rectangle_areas": Expected(ALL),
    "set_polygon_area": Expected(ALL),
    "delete_polygon_areas": Expected(ALL),
    "set_route": Expected(ALL),
    "delete_routes": Expected(ALL),
    "query_areas": Expected(ONLY_2019, 0x0608, "areas", check_no_areas),
    "tachograph_collect": Expected(ALL, 0x0700, "tachograph", check_tachograph),
    "tachograph_parameters": Expected(ALL),
    "request_driver_identity": Expected(SINCE_2013, 0x0702, "driver_identity", check_driver),
    # 2011 has no 0x0805: see expected_reply.
    "take_photo": Expected(ALL, 0x0805, "photo", check_photo),
    "search_media": Expected(ALL, 0x0802, "media_search", check_no_media),
    "upload_stored_media": Expected(ALL),
    "start_recording": Expected(ALL),
    "upload_one_media": Expected(SINCE_2013),
    "downlink_passthrough": Expected(ALL),
    "raw": Expected(NOWHERE),  # CASES sends 0x8F01, an id no terminal knows
}


def expected_reply(name: str, version: ProtocolVersion) -> tuple[int, int, str | None]:
    """reply_msg_id, result and the typed reply member the command gets in ``version``."""
    expected = EXPECTED[name]
    if version not in expected.defined_in:
        return GENERAL, UNSUPPORTED, None
    if name == "take_photo" and version is V2011:
        return GENERAL, SUCCESS, None  # a 2011 terminal's general reply is the photo result
    return expected.reply_msg_id, SUCCESS, expected.reply


def test_every_command_member_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(COMMAND_MEMBERS)
    assert sorted(CASES) == sorted(COMMAND_MEMBERS)


@pytest.mark.anyio
@pytest.mark.parametrize("version", REVISIONS, ids=str)
@pytest.mark.parametrize("name", COMMAND_MEMBERS)
async def test_every_command_gets_its_reply(
    tmp_path: Path, name: str, version: ProtocolVersion
) -> None:
    async with simulated(tmp_path, version) as rig:
        sent = Sent(command(name, rig.phone), rig.phone, version)
        response = await answered(rig.stub, sent.request)

    reply_msg_id, result, reply = expected_reply(name, version)
    assert (response.reply_msg_id, response.result) == (reply_msg_id, result)
    assert response.WhichOneof("reply") == reply
    assert response.retransmissions == 0
    check = EXPECTED[name].check
    if reply is not None and check is not None:
        check(response, sent)


RAW_COMMANDS: Final = {
    # A known id with an empty body is that command: its dedicated reply comes back typed.
    "query_location": (pb.RawCommand(msg_id=0x8201), 0x0201, "location"),
    "query_all_parameters": (pb.RawCommand(msg_id=0x8104), 0x0104, "parameters"),
    "query_attributes": (pb.RawCommand(msg_id=0x8107), 0x0107, "attributes"),
    "text_message": (
        pb.RawCommand(
            msg_id=0x8300, body=encode_body(TextMessage(flag=0b1000, text="hello"), V2019)
        ),
        GENERAL,
        None,
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(RAW_COMMANDS))
async def test_raw_command_of_a_known_id_gets_the_typed_reply(tmp_path: Path, name: str) -> None:
    raw, reply_msg_id, reply = RAW_COMMANDS[name]
    async with simulated(tmp_path) as rig:
        response = await answered(rig.stub, api.SendCommandRequest(phone=rig.phone, raw=raw))

    assert (response.reply_msg_id, response.result) == (reply_msg_id, SUCCESS)
    assert response.WhichOneof("reply") == reply
    if reply == "location":
        assert response.location.phone == rig.phone


@pytest.mark.anyio
@pytest.mark.parametrize("msg_id", [0x8F01, 0x8000, 0xFFFF])
async def test_raw_command_the_terminal_does_not_know_is_unsupported(
    tmp_path: Path, msg_id: int
) -> None:
    async with simulated(tmp_path) as rig:
        request = api.SendCommandRequest(
            phone=rig.phone, raw=pb.RawCommand(msg_id=msg_id, body=b"\x01")
        )
        response = await answered(rig.stub, request)

    assert (response.reply_msg_id, response.result) == (GENERAL, UNSUPPORTED)
    assert response.WhichOneof("reply") is None


@pytest.mark.anyio
async def test_raw_command_whose_body_the_terminal_cannot_read_gets_result_2(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path) as rig:
        # 0x8202 temporary tracking cut short: one byte of its WORD interval
        raw = pb.RawCommand(msg_id=0x8202, body=b"\x00")
        response = await answered(rig.stub, api.SendCommandRequest(phone=rig.phone, raw=raw))

    assert (response.reply_msg_id, response.result) == (GENERAL, 2)  # bad message


# --------------------------------------------------------------------------------------------
# Replies that reflect earlier commands


def parameters_of(response: api.SendCommandResponse) -> dict[int, pb.Parameter]:
    return {item.id: item for item in response.parameters.parameters}


@pytest.mark.anyio
@pytest.mark.parametrize("version", REVISIONS, ids=str)
async def test_query_parameters_returns_what_set_parameters_set(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    values = [
        pb.Parameter(id=0x0055, uint_value=88),  # max speed, DWORD
        pb.Parameter(id=0x0013, string_value="gw.example.cn"),  # main server address
        pb.Parameter(id=0x0084, uint_value=2),  # plate colour, BYTE
    ]
    async with simulated(tmp_path, version) as rig:
        setting = api.SendCommandRequest(
            phone=rig.phone, set_parameters=pb.SetParameters(parameters=values)
        )
        assert (await answered(rig.stub, setting)).result == SUCCESS
        everything = await answered(
            rig.stub,
            api.SendCommandRequest(phone=rig.phone, query_all_parameters=pb.QueryAllParameters()),
        )
        some = await send(
            rig.stub,
            api.SendCommandRequest(
                phone=rig.phone, query_parameters=pb.QueryParameters(ids=[0x0084, 0x0055])
            ),
        )

    held = parameters_of(everything)
    assert (held[0x0055].uint_value, held[0x0055].name) == (88, "max_speed")
    assert held[0x0013].string_value == "gw.example.cn"
    assert held[0x0084].uint_value == 2
    if version is V2011:  # 0x8106 came in 2013
        assert (some.response.reply_msg_id, some.response.result) == (GENERAL, UNSUPPORTED)
    else:
        assert [(p.id, p.uint_value) for p in some.response.parameters.parameters] == [
            (0x0084, 2),
            (0x0055, 88),
        ]


AREA_KINDS: Final = {
    # set command, query type, the AreasReply field the areas come back in
    "set_circle_areas": (1, "circle_areas"),
    "set_rectangle_areas": (2, "rectangle_areas"),
    "set_polygon_area": (3, "polygon_areas"),
    "set_route": (4, "routes"),
}
DELETE_OF: Final = {
    "set_circle_areas": "delete_circle_areas",
    "set_rectangle_areas": "delete_rectangle_areas",
    "set_polygon_area": "delete_polygon_areas",
    "set_route": "delete_routes",
}


def areas_set_by(request: api.SendCommandRequest, name: str) -> list[Any]:
    """The areas a set command carries, as the AreasReply lists them."""
    value = getattr(request, name)
    if name in ("set_circle_areas", "set_rectangle_areas"):
        return list(value.areas)
    return [value]  # one polygon or route per message


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AREA_KINDS))
async def test_query_areas_returns_what_was_set_and_not_what_was_deleted(
    tmp_path: Path, name: str
) -> None:
    query_type, field = AREA_KINDS[name]
    async with simulated(tmp_path, V2019) as rig:
        setting = command(name, rig.phone)
        query = api.SendCommandRequest(
            phone=rig.phone, query_areas=pb.QueryAreas(query_type=query_type)
        )
        assert (await answered(rig.stub, setting)).result == SUCCESS
        stored = await answered(rig.stub, query)
        deleting = api.SendCommandRequest(phone=rig.phone)
        getattr(deleting, DELETE_OF[name]).SetInParent()  # no ids: delete every one
        assert (await answered(rig.stub, deleting)).result == SUCCESS
        after_delete = await answered(rig.stub, query)

    assert (stored.reply_msg_id, stored.areas.query_type) == (0x0608, query_type)
    assert list(getattr(stored.areas, field)) == areas_set_by(setting, name)
    assert after_delete.areas == pb.AreasReply(query_type=query_type)


def door_command(lock: bool, phone: str) -> api.SendCommandRequest:
    """Lock or unlock in every revision: the 2011/2013 flag bit and the 2019 door item
    (whose parameter is the reverse: 0 closes and locks)."""
    return api.SendCommandRequest(
        phone=phone,
        vehicle_control=pb.VehicleControl(
            control_flags=int(lock),
            items=[pb.VehicleControlItem(control_type=0x0001, parameter=int(not lock))],
        ),
    )


def doors_locked(response: api.SendCommandResponse) -> bool:
    return bool(response.location.status_flags & StatusFlag.DOOR_LOCKED)


@pytest.mark.anyio
@pytest.mark.parametrize("version", REVISIONS, ids=str)
async def test_vehicle_control_reply_shows_the_doors_as_commanded(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    async with simulated(tmp_path, version) as rig:
        unlocked = await answered(rig.stub, door_command(False, rig.phone))
        position = await answered(
            rig.stub, api.SendCommandRequest(phone=rig.phone, query_location=pb.QueryLocation())
        )
        locked = await answered(rig.stub, door_command(True, rig.phone))

    assert (unlocked.reply_msg_id, locked.reply_msg_id) == (0x0500, 0x0500)
    assert (doors_locked(unlocked), doors_locked(position), doors_locked(locked)) == (
        False,
        False,
        True,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("version", REVISIONS, ids=str)
async def test_search_media_finds_the_photos_taken(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    async with simulated(tmp_path, version) as rig:
        photo = await answered(
            rig.stub,
            api.SendCommandRequest(
                phone=rig.phone, take_photo=pb.TakePhoto(channel_id=2, command=2, save=1)
            ),
        )
        found = await answered(
            rig.stub,
            api.SendCommandRequest(
                phone=rig.phone, search_media=pb.SearchMedia(media_type=0, channel_id=2, event=0)
            ),
        )

    assert photo.result == SUCCESS
    items = found.media_search.items
    assert [(item.media_type, item.channel_id, item.event) for item in items] == [(0, 2, 0)] * 2
    assert all(item.location.phone == rig.phone for item in items)
    if version is not V2011:
        assert [item.media_id for item in items] == list(photo.photo.media_ids)


@pytest.mark.anyio
async def test_a_photo_the_terminal_cannot_take_is_a_result_not_an_error(tmp_path: Path) -> None:
    async with simulated(tmp_path, V2019) as rig:
        response = await answered(
            rig.stub,
            api.SendCommandRequest(
                phone=rig.phone, take_photo=pb.TakePhoto(channel_id=9, command=1)
            ),
        )

    assert (response.reply_msg_id, response.result) == (0x0805, 2)  # channel not supported
    assert (response.photo.result, list(response.photo.media_ids)) == (2, [])


# --------------------------------------------------------------------------------------------
# 2. Concurrency

PARAMETER_IDS: Final = (0x0001, 0x0002, 0x0003, 0x0004, 0x0005)


def mixed_command(index: int, phone: str) -> api.SendCommandRequest:
    """Four kinds of command in turn; query_parameters asks a different parameter each time."""
    kind = index % 4
    if kind == 0:
        ids = [PARAMETER_IDS[index // 4]]
        return api.SendCommandRequest(phone=phone, query_parameters=pb.QueryParameters(ids=ids))
    if kind == 1:
        return api.SendCommandRequest(phone=phone, query_location=pb.QueryLocation())
    if kind == 2:
        return api.SendCommandRequest(phone=phone, query_attributes=pb.QueryAttributes())
    return text_message(phone, f"消息 {index}")


@pytest.mark.anyio
async def test_concurrent_commands_to_one_terminal_get_their_own_replies(tmp_path: Path) -> None:
    async with simulated(tmp_path, V2019) as rig:
        requests = [mixed_command(index, rig.phone) for index in range(20)]
        async with anyio.create_task_group() as tasks:
            calls = [BackgroundCall(tasks, rig.stub, request) for request in requests]
        outcomes = [await call.outcome() for call in calls]

    assert all(o.code is grpc.StatusCode.OK for o in outcomes), outcomes
    responses = [o.response for o in outcomes]
    assert len({r.command_serial for r in responses}) == 20
    for request, response in zip(requests, responses, strict=True):
        kind = request.WhichOneof("command")
        if kind == "query_parameters":
            assert response.reply_msg_id == 0x0104
            got = [p.id for p in response.parameters.parameters]
            assert got == list(request.query_parameters.ids)
        elif kind == "query_location":
            assert (response.reply_msg_id, response.location.phone) == (0x0201, rig.phone)
        elif kind == "query_attributes":
            assert (response.reply_msg_id, response.attributes.terminal_id) == (0x0107, "0000001")
        else:
            assert (response.reply_msg_id, response.result) == (GENERAL, SUCCESS)
            assert response.WhichOneof("reply") is None


def terminal_id_of(phone: str) -> str:
    """The fleet gives terminal n (from 1) the phone PHONE_START + n - 1 and the id n."""
    return f"{int(phone) - PHONE_START + 1:07d}"


@pytest.mark.anyio
@pytest.mark.parametrize("version", [V2013, V2019], ids=str)
async def test_concurrent_commands_to_five_terminals_reach_the_right_one(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    async with simulated(tmp_path, version, terminals=5) as rig:
        assert len(rig.phones) == 5
        async with anyio.create_task_group() as tasks:
            attributes = {
                phone: BackgroundCall(
                    tasks,
                    rig.stub,
                    api.SendCommandRequest(phone=phone, query_attributes=pb.QueryAttributes()),
                )
                for phone in rig.phones
            }
            locations = {
                phone: BackgroundCall(
                    tasks,
                    rig.stub,
                    api.SendCommandRequest(phone=phone, query_location=pb.QueryLocation()),
                )
                for phone in rig.phones
            }
        for phone in rig.phones:
            attribute_reply = (await attributes[phone].outcome()).response
            location_reply = (await locations[phone].outcome()).response
            assert attribute_reply.attributes.terminal_id == terminal_id_of(phone)
            assert location_reply.location.phone == phone


# --------------------------------------------------------------------------------------------
# 3. A command the gateway splits into packets

PACKAGE: Final = bytes(range(256)) * 19 + bytes(range(136))  # 5000 bytes


def upgrade(phone: str) -> api.SendCommandRequest:
    return api.SendCommandRequest(
        phone=phone,
        upgrade_package=pb.UpgradePackage(
            upgrade_type=0x00, manufacturer_id="SIM", version="V9.9.9", package=PACKAGE
        ),
    )


async def frames_sent(rig: Rig) -> int:
    reply = await rig.stub.GetSession(api.GetSessionRequest(phone=rig.phone), timeout=RPC_TIMEOUT)
    return reply.session.frames_sent


@pytest.mark.anyio
@pytest.mark.parametrize("version", [V2013, V2019], ids=str)
async def test_split_upgrade_package_gets_its_general_reply(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    async with simulated(tmp_path, version) as rig:
        before = await frames_sent(rig)
        response = await answered(rig.stub, upgrade(rig.phone))
        after = await frames_sent(rig)

    assert (response.reply_msg_id, response.result) == (GENERAL, SUCCESS)
    assert response.WhichOneof("reply") is None
    assert after - before >= 5  # 5000 bytes in bodies of at most 1023 (plus any 0x8001)


@pytest.mark.anyio
async def test_split_command_is_answered_on_its_last_packet_with_the_first_serial(
    tmp_path: Path,
) -> None:
    async with scripted(tmp_path) as (rig, terminal), anyio.create_task_group() as tasks:
        call = BackgroundCall(tasks, rig.stub, upgrade(rig.phone))
        first = await next_frame(terminal, MessageId.UPGRADE_PACKAGE)
        assert isinstance(first.body, Fragment) and first.header.packet is not None
        total = first.header.packet.total
        packets = [first]
        while len(packets) < total:
            packets.append(await next_frame(terminal, MessageId.UPGRADE_PACKAGE))
        await reply_general(terminal, packets[-1])
        outcome = await call.outcome()

    assert total >= 5  # 5000 bytes in bodies of at most 1023
    serials = [packet.header.serial for packet in packets]
    assert serials == list(range(serials[0], serials[0] + total))
    assert outcome.code is grpc.StatusCode.OK, outcome
    assert (outcome.response.reply_msg_id, outcome.response.result) == (GENERAL, SUCCESS)
    assert outcome.response.command_serial == serials[0]


# --------------------------------------------------------------------------------------------
# 4. Timeouts, retransmission, disconnects

RETRYING: Final[dict[str, Any]] = {"command_retry_timeout": 0.25, "command_max_retries": 2}


@pytest.mark.anyio
async def test_unanswered_command_is_retransmitted_then_deadline_exceeded(tmp_path: Path) -> None:
    async with scripted(tmp_path, **RETRYING) as (rig, terminal):
        # Sent at 0, retransmitted at 0.25 and 0.75; the next would be at 2.25.
        outcome = await send(rig.stub, text_message(rig.phone, timeout=seconds(1.5)))
        frames = await frames_until_quiet(terminal)

    assert outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert outcome.details.startswith("sent, no reply"), outcome.details
    assert rig.phone in outcome.details
    assert outcome.trailing[OUTCOME_KEY] == "no-reply"
    sent = [(m.msg_id, m.header.serial) for m in frames]
    assert len(sent) == 3  # sent, then retransmitted twice
    assert set(sent) == {(MessageId.TEXT_MESSAGE, frames[0].header.serial)}  # the same serial


@pytest.mark.anyio
async def test_request_without_timeout_waits_the_gateways_command_timeout(tmp_path: Path) -> None:
    config: dict[str, Any] = {"command_timeout": 0.5, "command_retry_timeout": 5.0}
    async with scripted(tmp_path, **config) as (rig, terminal):
        outcome = await send(rig.stub, text_message(rig.phone))  # no timeout in the request
        frames = await frames_until_quiet(terminal, quiet=0.1)

    assert outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert outcome.trailing[OUTCOME_KEY] == "no-reply"
    assert [m.msg_id for m in frames] == [MessageId.TEXT_MESSAGE]  # never retransmitted


@pytest.mark.anyio
async def test_reply_to_the_retransmission_completes_the_command(tmp_path: Path) -> None:
    async with (
        scripted(tmp_path, **RETRYING) as (rig, terminal),
        anyio.create_task_group() as tasks,
    ):
        call = BackgroundCall(tasks, rig.stub, text_message(rig.phone, timeout=seconds(30)))
        first = await next_frame(terminal, MessageId.TEXT_MESSAGE)
        again = await next_frame(terminal, MessageId.TEXT_MESSAGE)  # ignored the first time
        await reply_general(terminal, again)
        outcome = await call.outcome()

    assert again.header.serial == first.header.serial
    assert outcome.code is grpc.StatusCode.OK, outcome
    response = outcome.response
    assert (response.reply_msg_id, response.result) == (GENERAL, SUCCESS)
    assert (response.retransmissions, response.command_serial) == (1, first.header.serial)


@pytest.mark.anyio
async def test_terminal_result_codes_are_results_not_errors(tmp_path: Path) -> None:
    async with scripted(tmp_path) as (rig, terminal), anyio.create_task_group() as tasks:
        results = {}
        for result in (1, 2, 3):  # failure, bad message, unsupported
            call = BackgroundCall(tasks, rig.stub, text_message(rig.phone))
            await reply_general(
                terminal, await next_frame(terminal, MessageId.TEXT_MESSAGE), result
            )
            results[result] = await call.outcome()

    for result, outcome in results.items():
        assert outcome.code is grpc.StatusCode.OK, outcome
        assert (outcome.response.reply_msg_id, outcome.response.result) == (GENERAL, result)


@pytest.mark.anyio
async def test_terminal_disconnecting_while_a_command_waits_is_unavailable(
    tmp_path: Path,
) -> None:
    async with scripted(tmp_path) as (rig, terminal), anyio.create_task_group() as tasks:
        call = BackgroundCall(tasks, rig.stub, text_message(rig.phone, timeout=seconds(5)))
        await next_frame(terminal, MessageId.TEXT_MESSAGE)
        await terminal.stream.aclose()
        outcome = await call.outcome()

    assert outcome.code is grpc.StatusCode.UNAVAILABLE, outcome
    assert rig.phone in outcome.details
    assert outcome.trailing[OUTCOME_KEY] == "session-closed"


async def pending_commands(rig: Rig) -> int:
    reply = await rig.stub.GetSession(api.GetSessionRequest(phone=rig.phone), timeout=RPC_TIMEOUT)
    return reply.session.pending_commands


@pytest.mark.anyio
async def test_client_deadline_before_the_command_timeout_leaves_the_gateway_working(
    tmp_path: Path,
) -> None:
    async with scripted(tmp_path, command_retry_timeout=30.0) as (rig, terminal):
        # The command waits 3 s, its caller 0.2 s: time enough to see it still in flight.
        abandoned = await send(rig.stub, text_message(rig.phone, timeout=seconds(3)), timeout=0.2)
        assert abandoned.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert await pending_commands(rig) == 1  # still in flight until its own timeout

        async with anyio.create_task_group() as tasks:
            call = BackgroundCall(
                tasks,
                rig.stub,
                api.SendCommandRequest(
                    phone=rig.phone, call_back=pb.CallBack(flag=0, phone_number="95555")
                ),
            )
            await reply_general(terminal, await next_frame(terminal, MessageId.CALL_BACK))
            following = await call.outcome()
        assert following.code is grpc.StatusCode.OK, following
        assert (following.response.reply_msg_id, following.response.result) == (GENERAL, SUCCESS)

        # The abandoned command ends on its own timeout, and nothing else breaks.
        with anyio.fail_after(FRAME_TIMEOUT):
            while await pending_commands(rig) != 0:
                await anyio.sleep(0.05)
        async with anyio.create_task_group() as tasks:
            call = BackgroundCall(tasks, rig.stub, text_message(rig.phone))
            await reply_general(terminal, await next_frame(terminal, MessageId.TEXT_MESSAGE))
            last = await call.outcome()
        assert last.code is grpc.StatusCode.OK, last


# --------------------------------------------------------------------------------------------
# 5. Errors


def assert_status(outcome: Outcome, code: grpc.StatusCode, *mentions: str) -> None:
    assert outcome.code is code, outcome
    for text in mentions:
        assert text in outcome.details, outcome.details


@pytest.mark.anyio
async def test_unknown_phone_is_not_found(tmp_path: Path) -> None:
    async with simulated(tmp_path) as rig:
        outcome = await send(rig.stub, text_message("13999999999"))

    assert_status(outcome, grpc.StatusCode.NOT_FOUND, "13999999999")


@pytest.mark.anyio
async def test_terminal_not_yet_authenticated_is_not_found(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path) as app,
        TerminalClient.connect(app.addresses.terminals, V2019) as terminal,
        api_channel(app) as channel,
    ):
        await terminal.register()  # connected and registered, never authenticated
        stub: GatewayServiceAsyncStub = api_grpc.GatewayServiceStub(channel)
        outcome = await send(stub, text_message(terminal.phone))

    assert_status(outcome, grpc.StatusCode.NOT_FOUND, terminal.phone)


@pytest.mark.anyio
async def test_terminal_that_went_offline_is_not_found(tmp_path: Path) -> None:
    async with scripted(tmp_path) as (rig, terminal):
        await terminal.stream.aclose()
        await wait_until(lambda: len(rig.app.gateway.sessions) == 0)
        outcome = await send(rig.stub, text_message(rig.phone))

    assert_status(outcome, grpc.StatusCode.NOT_FOUND, rig.phone)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "phone", ["abc", "", "1" * 21, "1380000000a", " 13800000000", "+8613800000000", "１３８"]
)
async def test_malformed_phone_is_invalid_argument(tmp_path: Path, phone: str) -> None:
    async with simulated(tmp_path) as rig:
        outcome = await send(rig.stub, text_message(phone))

    assert_status(outcome, grpc.StatusCode.INVALID_ARGUMENT)
    assert outcome.details.startswith("phone"), outcome.details


@pytest.mark.anyio
async def test_request_without_a_command_is_invalid_argument(tmp_path: Path) -> None:
    async with simulated(tmp_path) as rig:
        outcome = await send(rig.stub, api.SendCommandRequest(phone=rig.phone))

    assert_status(outcome, grpc.StatusCode.INVALID_ARGUMENT)
    assert outcome.details.startswith("command"), outcome.details


@pytest.mark.anyio
@pytest.mark.parametrize("timeout", [0.0, -1.0, 600.5, 601.0, 86_400.0])
async def test_timeout_outside_the_allowed_range_is_invalid_argument(
    tmp_path: Path, timeout: float
) -> None:
    async with simulated(tmp_path) as rig:
        outcome = await send(rig.stub, text_message(rig.phone, timeout=seconds(timeout)))

    assert_status(outcome, grpc.StatusCode.INVALID_ARGUMENT)
    assert outcome.details.startswith("timeout"), outcome.details


@pytest.mark.anyio
async def test_timeout_too_large_for_a_timedelta_is_invalid_argument(tmp_path: Path) -> None:
    async with simulated(tmp_path) as rig:
        huge = duration_pb2.Duration(seconds=10**15)
        outcome = await send(rig.stub, text_message(rig.phone, timeout=huge))

    assert_status(outcome, grpc.StatusCode.INVALID_ARGUMENT)
    assert outcome.details.startswith("timeout"), outcome.details


@pytest.mark.anyio
async def test_longest_timeout_is_accepted(tmp_path: Path) -> None:
    async with simulated(tmp_path) as rig:
        outcome = await send(rig.stub, text_message(rig.phone, timeout=seconds(600)))

    assert outcome.code is grpc.StatusCode.OK, outcome


FIELDS_THAT_DO_NOT_FIT: Final = {
    # the encoder refuses integers too wide for their wire field, naming the body field
    "text_message.flags": (
        api.SendCommandRequest(text_message=pb.TextMessage(flags=300, text="x")),
        "flag",
    ),
    "temporary_tracking.interval_s": (
        api.SendCommandRequest(temporary_tracking=pb.TemporaryTracking(interval_s=70_000)),
        "interval_s",
    ),
    # the converter refuses a value of a parameter's wrong width, naming the request field
    "set_parameters uint_value": (
        api.SendCommandRequest(
            set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0084, uint_value=300)])
        ),
        "set_parameters.parameters[0].uint_value",
    ),
    "raw.msg_id": (
        api.SendCommandRequest(raw=pb.RawCommand(msg_id=0x0200, body=b"")),
        "raw.msg_id",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(FIELDS_THAT_DO_NOT_FIT))
async def test_field_that_does_not_fit_is_invalid_argument_and_sends_nothing(
    tmp_path: Path, case: str
) -> None:
    request, mention = FIELDS_THAT_DO_NOT_FIT[case]
    async with scripted(tmp_path) as (rig, terminal):
        bad = api.SendCommandRequest()
        bad.CopyFrom(request)
        bad.phone = rig.phone
        outcome = await send(rig.stub, bad)
        leaked = await frames_until_quiet(terminal, quiet=0.1)
        pending = await pending_commands(rig)

    assert_status(outcome, grpc.StatusCode.INVALID_ARGUMENT, mention)
    assert (leaked, pending) == ([], 0)


@pytest.mark.anyio
async def test_command_past_the_pending_limit_is_resource_exhausted(tmp_path: Path) -> None:
    async with (
        scripted(tmp_path, max_pending_commands=2) as (rig, terminal),
        anyio.create_task_group() as tasks,
    ):
        first = BackgroundCall(tasks, rig.stub, text_message(rig.phone, "一"))
        second = BackgroundCall(tasks, rig.stub, text_message(rig.phone, "二"))
        waiting = [await next_frame(terminal, MessageId.TEXT_MESSAGE) for _ in range(2)]
        refused = await send(rig.stub, text_message(rig.phone, "三"))
        for frame in waiting:
            await reply_general(terminal, frame)
        answered_calls = [await first.outcome(), await second.outcome()]

        leaked = await frames_until_quiet(terminal, quiet=0.1)

    assert_status(refused, grpc.StatusCode.RESOURCE_EXHAUSTED, rig.phone)
    assert [o.code for o in answered_calls] == [grpc.StatusCode.OK] * 2
    assert [m for m in leaked if m.msg_id == MessageId.TEXT_MESSAGE] == []  # "三" never went out


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("version", "given"),
    [
        (V2019, "13800000000"),  # the terminal's phone is 00000000013800000000
        (V2013, "13800000000"),  # ... 013800000000
        (V2013, "00000000013800000000"),  # a 2013 phone written as 20 digits
    ],
    ids=["2019-short", "2013-short", "2013-padded"],
)
async def test_phone_matches_without_leading_zeros(
    tmp_path: Path, version: ProtocolVersion, given: str
) -> None:
    async with simulated(tmp_path, version) as rig:
        response = await answered(
            rig.stub, api.SendCommandRequest(phone=given, query_location=pb.QueryLocation())
        )

    assert response.reply_msg_id == 0x0201
    assert response.location.phone == rig.phone  # the phone as the terminal sends it
    assert rig.phone != given


#: The longest status message a caller gets, whatever it sent (gRPC carries the message in
#: trailing metadata, whose size is limited).
MAX_DETAILS: Final = 300


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "request_of"),
    [
        ("text", text_message),
        (
            "call_back",
            lambda phone, long: api.SendCommandRequest(
                phone=phone, call_back=pb.CallBack(flag=0, phone_number=long)
            ),
        ),
        ("text", lambda phone, long: text_message(phone, long.replace("x", "字"))),
    ],
    ids=["text", "call_back.phone_number", "chinese-text"],
)
@pytest.mark.parametrize("length", [3_000, 70_000])
async def test_an_over_long_value_is_invalid_argument_with_a_short_message(
    tmp_path: Path,
    field: str,
    request_of: Callable[[str, str], api.SendCommandRequest],
    length: int,
) -> None:
    async with scripted(tmp_path) as (rig, terminal):
        outcome = await send(rig.stub, request_of(rig.phone, "x" * length))
        leaked = await frames_until_quiet(terminal, quiet=0.1)

    assert_status(outcome, grpc.StatusCode.INVALID_ARGUMENT, field, "bytes", "allows")
    assert len(outcome.details) <= MAX_DETAILS, outcome.details
    assert leaked == []
