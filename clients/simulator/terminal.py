"""One simulated JT/T 808 terminal, sans-I/O: bytes in, events out, bytes to send.

A ``SimulatedTerminal`` plays a vehicle terminal of one revision (2011, 2013 or 2019) the way
``TerminalSession`` plays the platform: nothing here opens a socket or reads a clock. Time comes
in as ``now`` (seconds on any monotonic scale); wall-clock time (the time in a location report)
is ``started_at`` plus the ``now`` that has passed since the terminal was made.

Use (``clients.simulator.runner`` does this for every terminal)::

    terminal = SimulatedTerminal(profile, now=clock(), started_at=datetime.now(UTC))
    terminal.connect(now)                       # queues 0x0100, or 0x0102 with a known code
    transport.write(terminal.data_to_send())
    events = terminal.receive_data(chunk, now)  # Registered, Authenticated, Acknowledged, ...
    terminal.report_location(now)               # once ``terminal.online``
    transport.write(terminal.data_to_send())

What it sends: 0x0100 registration, 0x0102 authentication (2019: with IMEI and software
version), 0x0002 heartbeats, 0x0200 reports along a ``Track`` with mileage, fuel, tachograph
speed and (2013+) signal strength and satellites, 0x0704 batches (normal or blind-area), and
0x0801 media uploads of any size, split by ``encode_split`` with consecutive serials. Its own
serial counter wraps at 65536. Every tracked message (0x0002, 0x0200, 0x0704) waits for its
0x8001 by serial; ``Acknowledged`` carries the latency, and ``expire`` gives up on old ones.

What it answers, like a real terminal: 0x0001 for most commands; dedicated replies for 0x8104/
0x8106 (0x0104, from a parameter set 0x8103 updates), 0x8107 (0x0107), 0x8201 (0x0201), 0x8500
(0x0001 at once, then 0x0500 with the door-lock bit set as the command asked), 0x8302 (0x0001,
then 0x0302), 0x8108 (0x0001, then 0x0108), 0x8608 (0x0608, from the areas 0x8600-0x8607 set),
0x8700 (0x0700), 0x8702 (0x0702), 0x8801 (0x0805; 2011: 0x0001), 0x8802 (0x0802) and 0x8A00
(0x0A00); the packets a 0x8003 or 0x8800 names are resent unchanged. A command its revision
does not define (0x8107 in 2011, 0x8608 before 2019, 0x8302 in 2019, ...) or an id it does not
know is answered 0x0001 result 3, a command whose body does not decode 0x0001 result 2.

With ``rsa=True`` the terminal has a real 1024-bit RSA key: it sends its 0x0A00 right after
authenticating, and once the platform's 0x8A00 is in, it encrypts every body it sends (but its
key) with the platform's key and decrypts the platform's encrypted commands with its own
(``gateway.protocol.encryption``). Without it, 0x8A00 is answered with a stand-in modulus.

Decisions: a platform command split into packets is reassembled first and its 0x0001 names the
serial of its last packet (what ``CommandTracker`` completes a split command on). A 0x0704 that
has to be split is acknowledged packet by packet; its reports count as acknowledged with the
last packet's 0x8001. A 0x0608 answer holds one set-message body per stored area (the count is
the number of areas). A refused 0x0102 with a code given from outside (``--auth-code``) makes
the terminal register again once on that connection, as the reference (§6.1 item 5) says
devices commonly do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from gateway.protocol.bodies.areas import (
    AreaQueryType,
    AreaSetType,
    CircleArea,
    DeleteCircleAreas,
    DeletePolygonAreas,
    DeleteRectangleAreas,
    DeleteRoutes,
    QueryAreas,
    QueryAreasResponse,
    RectangleArea,
    SetCircleAreas,
    SetPolygonArea,
    SetRectangleAreas,
    SetRoute,
)
from gateway.protocol.bodies.general import (
    Heartbeat,
    PlatformGeneralResponse,
    PlatformRetransmitRequest,
    TerminalGeneralResponse,
    TerminalLogout,
    TerminalRetransmitRequest,
)
from gateway.protocol.bodies.location import (
    AdditionalInfo,
    AlarmFlag,
    LocationBatch,
    LocationBatchType,
    LocationReport,
    QueryLocationResponse,
    StatusFlag,
)
from gateway.protocol.bodies.messaging import Question, QuestionAnswer
from gateway.protocol.bodies.multimedia import (
    RECORD_VIDEO,
    MediaEvent,
    MediaFormat,
    MediaSearchItem,
    MediaType,
    MultimediaData,
    MultimediaDataResponse,
    SearchMedia,
    SearchMediaResponse,
    TakePhoto,
    TakePhotoResponse,
    TakePhotoResult,
)
from gateway.protocol.bodies.parameters import (
    Parameter,
    ParameterId,
    QueryParameters,
    QueryParametersResponse,
    SetParameters,
)
from gateway.protocol.bodies.passthrough import PlatformRsaKey, TerminalRsaKey
from gateway.protocol.bodies.registration import (
    RegisterResult,
    TerminalAuthenticate,
    TerminalRegister,
    TerminalRegisterResponse,
)
from gateway.protocol.bodies.tachograph import (
    CardReadResult,
    CardStatus,
    DriverIdentityReport,
    TachographCollect,
    TachographUpload,
)
from gateway.protocol.bodies.terminal import (
    CommunicationModule,
    GnssModule,
    QueryAttributesResponse,
    TerminalType,
    UpgradePackage,
    UpgradeResult,
    UpgradeResultCode,
)
from gateway.protocol.bodies.vehicle import (
    ControlType,
    DoorCommand,
    VehicleControl,
    VehicleControlFlag,
    VehicleControlResponse,
)
from gateway.protocol.body import Body, Fragment, RawBody, body_class, decode_body
from gateway.protocol.encryption import RsaKeyError, RsaKeyPair, RsaPublicKey
from gateway.protocol.errors import EncodeError, FramingError, ProtocolError, ResultCode
from gateway.protocol.framing import FrameDecoder, NeedData, checksum
from gateway.protocol.header import LENGTH_MASK, RSA_ENCRYPTION, Header
from gateway.protocol.ids import MessageId as M
from gateway.protocol.message import Message, decode_packet, encode_body
from gateway.protocol.subpackage import (
    MiB,
    PartialMessageDropped,
    Reassembler,
    RetransmissionRequested,
    SentCache,
    SplitMessage,
    SubpackageError,
    encode_split,
)
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from gateway.protocol.wire import CHINA_TZ
from gateway.registry import Device

from .frames import UplinkFrames, general_response_head
from .track import Track, TrackPoint

SERIAL_MODULUS: Final = 0x10000
#: A 0x8001 after its header: platform serial, reply serial, reply id, result, check code.
_ACK_TAIL: Final = struct.Struct(">HHHBB")
#: Messages waiting for their 0x8001 at most (the oldest is given up past this).
MAX_AWAITING: Final = 16_384
#: Media uploads waiting for their 0x8800 at most (the oldest is given up past this).
MAX_UPLOADS: Final = 8
#: Media items remembered for 0x8802 searches (the oldest is forgotten past this).
MAX_MEDIA: Final = 256
#: Areas of each kind (circle, rectangle, polygon, route) a terminal holds.
MAX_AREAS: Final = 256
#: Parameters a terminal holds (0x8103 past this is answered with result 1).
MAX_PARAMETERS: Final = 1024
#: Photos one 0x8801 takes at most (the command may ask for up to 65534).
MAX_PHOTOS_PER_COMMAND: Final = 16
#: The largest media upload the simulator builds (bytes of the file).
MAX_UPLOAD_SIZE: Final = 16 * MiB

#: Platform commands JT/T 808-2019 removed (reference §3.26): a 2019 terminal does not know them.
REMOVED_IN_2019: Final = frozenset(
    {M.EVENT_SETTING, M.QUESTION, M.INFO_MENU_SETTING, M.INFO_SERVICE}
)
#: Platform messages that are replies or requests handled on their own, never answered 0x0001.
_NOT_COMMANDS: Final = frozenset(
    {
        M.PLATFORM_GENERAL_RESPONSE,
        M.TERMINAL_REGISTER_RESPONSE,
        M.SERVER_TIME_RESPONSE,
        M.MULTIMEDIA_DATA_RESPONSE,
        M.PLATFORM_RETRANSMIT_REQUEST,
    }
)
#: 0x8001 results that acknowledge a message (4 = "alarm confirmed", an acknowledgement too).
_ACCEPTED: Final = frozenset({ResultCode.SUCCESS, ResultCode.ALARM_CONFIRMED})
#: Digits of the header's phone field in each header form.
PHONE_DIGITS: Final = {V2011: 12, V2013: 12, V2019: 20}
#: A 2011 0x0100 body of this many bytes or more is read as 2013 by a gateway (header.py).
_REGISTER_2013_MIN_BODY: Final = 37


class LinkState(StrEnum):
    OFFLINE = "offline"
    REGISTERING = "registering"
    AUTHENTICATING = "authenticating"
    ONLINE = "online"
    FAILED = "failed"  # registration or authentication refused: the terminal stops trying


# --------------------------------------------------------------------------------------------
# Identity


@dataclass(frozen=True, slots=True)
class TerminalProfile:
    """Who the terminal says it is; checked against the revision's field widths when made."""

    phone: str
    version: ProtocolVersion = V2013
    manufacturer_id: str = "SIM"
    terminal_model: str = "SIM-TK"
    terminal_id: str = "0000001"
    plate: str = "粤B00001"
    plate_color: int = 1  # blue
    province_id: int = 44  # Guangdong
    city_id: int = 300  # Shenzhen
    imei: str = "860000000000001"
    software_version: str = "SIM-1.0.0"
    hardware_version: str = "HW-1.0"
    iccid: str = "89860000000000000001"
    #: What the 0x0013 parameter says (the simulator does not connect anywhere by itself).
    server_address: str = "127.0.0.1:7999"
    #: Camera channels 1..channels exist; 0x8801 for another channel is refused.
    camera_channels: int = 4

    def __post_init__(self) -> None:
        digits = PHONE_DIGITS[self.version]
        if len(self.phone) != digits or not self.phone.isdigit():
            raise ValueError(
                f"phone {self.phone!r} must be {digits} decimal digits in JT/T 808-{self.version}"
            )
        try:
            register = encode_body(self.registration(), self.version)
            encode_body(self.authentication("x" * 16), self.version)
            if self.version is not V2011:
                encode_body(_attributes(self), self.version)
        except EncodeError as error:
            raise ValueError(
                f"terminal identity does not fit JT/T 808-{self.version}: {error}"
            ) from None
        if self.version is V2011 and len(register) >= _REGISTER_2013_MIN_BODY:
            raise ValueError(
                f"a 2011 registration of {len(register)} bytes would be read as 2013 "
                f"(keep it under {_REGISTER_2013_MIN_BODY}: a shorter plate)"
            )

    @property
    def device_name(self) -> str:
        """The name the gateway gives it: ``${manufacturer}_${model}_${terminal id}``."""
        return f"{self.manufacturer_id}_{self.terminal_model}_{self.terminal_id}"

    def registration(self) -> TerminalRegister:
        return TerminalRegister(
            province_id=self.province_id,
            city_id=self.city_id,
            manufacturer_id=self.manufacturer_id,
            terminal_model=self.terminal_model,
            terminal_id=self.terminal_id,
            plate_color=self.plate_color,
            plate=self.plate,
        )

    def authentication(self, auth_code: str) -> TerminalAuthenticate:
        if self.version is V2019:
            return TerminalAuthenticate(
                auth_code=auth_code, imei=self.imei, software_version=self.software_version
            )
        return TerminalAuthenticate(auth_code=auth_code)


def format_phone(number: int, version: ProtocolVersion) -> str:
    """``number`` as the header's phone field: 12 digits (20 in 2019), zero-padded."""
    digits = PHONE_DIGITS[version]
    text = str(number)
    if number < 0 or len(text) > digits:
        raise ValueError(f"{number} does not fit the {digits}-digit phone of JT/T 808-{version}")
    return text.zfill(digits)


def fleet_profile(
    index: int,
    *,
    version: ProtocolVersion,
    phone_start: int,
    manufacturer: str = "SIM",
    model: str = "SIM-TK",
) -> TerminalProfile:
    """The profile of terminal ``index`` (from 0) of a simulated fleet.

    Phones count up from ``phone_start``. Every terminal has the manufacturer id
    ``manufacturer`` and the model ``model``; terminal ids are the number from 1 on 7 digits,
    plates ``粤B`` and five digits, IMEI and ICCID made from the number. Raises ``ValueError``
    when a field does not fit the revision.
    """
    number = index + 1
    return TerminalProfile(
        phone=format_phone(phone_start + index, version),
        version=version,
        manufacturer_id=manufacturer,
        terminal_model=model,
        terminal_id=f"{number % 10_000_000:07d}",
        plate=f"粤B{number % 100_000:05d}",
        imei=f"86{number % 10**13:013d}",
        iccid=f"8986{number % 10**16:016d}",
    )


def device_profile(
    device: Device, index: int, *, version: ProtocolVersion, phone_start: int
) -> TerminalProfile:
    """Terminal ``index`` of a fleet that registers as ``device`` of a gateway's registry: its
    identity, and its phone and plate where the device pins them (else the fleet's). Raises
    ``ValueError`` when it does not fit the revision."""
    fleet = fleet_profile(index, version=version, phone_start=phone_start)
    return dataclasses.replace(
        fleet,
        phone=format_phone(int(device.phone), version) if device.phone else fleet.phone,
        manufacturer_id=device.manufacturer_id,
        terminal_model=device.terminal_model,
        terminal_id=device.terminal_id,
        plate=device.plate or fleet.plate,
        plate_color=fleet.plate_color if device.plate_color is None else device.plate_color,
    )


def _attributes(profile: TerminalProfile) -> QueryAttributesResponse:
    return QueryAttributesResponse(
        terminal_type=int(TerminalType.GENERAL_FREIGHT),
        manufacturer_id=profile.manufacturer_id,
        terminal_model=profile.terminal_model,
        terminal_id=profile.terminal_id,
        iccid=profile.iccid,
        hardware_version=profile.hardware_version,
        firmware_version=profile.software_version,
        gnss_attributes=int(GnssModule.GPS | GnssModule.BEIDOU),
        communication_attributes=int(CommunicationModule.TD_LTE),
    )


def default_parameters(
    profile: TerminalProfile, *, heartbeat_interval_s: int = 30
) -> dict[int, bytes]:
    """A plausible parameter set of a freight terminal (what 0x8104 answers before any 0x8103):
    value bytes by parameter id, only ids the terminal's revision defines."""
    p = ParameterId
    host, _, port = profile.server_address.rpartition(":")
    values: dict[ParameterId, Any] = {
        p.HEARTBEAT_INTERVAL: heartbeat_interval_s,
        p.TCP_REPLY_TIMEOUT: 10,
        p.TCP_RETRANSMIT_COUNT: 3,
        p.UDP_REPLY_TIMEOUT: 10,
        p.UDP_RETRANSMIT_COUNT: 3,
        p.SMS_REPLY_TIMEOUT: 30,
        p.SMS_RETRANSMIT_COUNT: 3,
        p.MAIN_SERVER_APN: "CMNET",
        p.REPORT_STRATEGY: 0,
        p.REPORT_SCHEME: 0,
        p.SLEEP_REPORT_INTERVAL: 300,
        p.EMERGENCY_REPORT_INTERVAL: 10,
        p.DEFAULT_REPORT_INTERVAL: 30,
        p.DEFAULT_REPORT_DISTANCE: 500,
        p.TURN_POINT_ANGLE: 30,
        p.ALARM_MASK: 0,
        p.KEY_ALARM_FLAGS: int(AlarmFlag.EMERGENCY),
        p.MAX_SPEED: 120,
        p.OVERSPEED_DURATION: 10,
        p.CONTINUOUS_DRIVING_LIMIT: 4 * 3600,
        p.DAILY_DRIVING_LIMIT: 8 * 3600,
        p.MIN_REST: 20 * 60,
        p.MAX_PARKING: 3600,
        p.IMAGE_QUALITY: 5,
        p.BRIGHTNESS: 127,
        p.CONTRAST: 64,
        p.SATURATION: 64,
        p.CHROMA: 127,
        p.ODOMETER: 0,  # answered from the track's odometer
    }
    if profile.version is V2019:
        values[p.MAIN_SERVER_ADDRESS] = profile.server_address
    else:
        values[p.MAIN_SERVER_ADDRESS] = host or profile.server_address
        values[p.SERVER_TCP_PORT] = int(port) if port.isdigit() else 7999
    if profile.version is not V2011:
        values.update(
            {
                p.GEOFENCE_RADIUS: 100,
                p.PROVINCE_ID: profile.province_id,
                p.CITY_ID: profile.city_id,
                p.PLATE: profile.plate,
                p.PLATE_COLOR: profile.plate_color,
                p.GNSS_MODE: 0b0011,  # GPS + BeiDou
                p.GNSS_BAUD_RATE: 1,  # 9600
                p.GNSS_OUTPUT_RATE: 1,  # 1000 ms
                p.GNSS_COLLECT_INTERVAL: 1,
                p.GNSS_UPLOAD_MODE: 0,
                p.GNSS_UPLOAD_VALUE: 0,
            }
        )
    return {int(pid): Parameter.of(pid, value).raw for pid, value in sorted(values.items())}


# --------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class Registered:
    """0x8100 result 0: the terminal keeps ``auth_code`` and authenticates."""

    auth_code: str
    latency: float


@dataclass(frozen=True, slots=True)
class RegistrationRefused:
    result: int


@dataclass(frozen=True, slots=True)
class Authenticated:
    latency: float


@dataclass(frozen=True, slots=True)
class AuthenticationRefused:
    """0x8001 result ``result`` for the 0x0102; ``registering_again`` when the terminal dropped
    its code and registers once more (else it has given up: ``LinkState.FAILED``)."""

    result: int
    registering_again: bool


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The platform's 0x8001 for one of our tracked messages (``reports`` locations in it)."""

    msg_id: int
    serial: int
    result: int
    latency: float
    reports: int

    @property
    def accepted(self) -> bool:
        return self.result in _ACCEPTED


class MissingReason(StrEnum):
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    EVICTED = "evicted"  # too many waiting, or its serial came round again


@dataclass(frozen=True, slots=True)
class AckMissing:
    """A tracked message was given up without its 0x8001."""

    msg_id: int
    serial: int
    reports: int
    reason: MissingReason


@dataclass(frozen=True, slots=True)
class UploadCompleted:
    """0x8800 without packets to resend: the platform has the whole media file."""

    media_id: int
    packets: int
    latency: float


@dataclass(frozen=True, slots=True)
class PacketsResent:
    """Packets of a split message sent again, for a 0x8003 or a 0x8800 naming them."""

    msg_id: int
    first_serial: int
    packet_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CommandReplied:
    """A platform command (``serial`` of its first packet) answered with ``replies`` (message
    ids, in the order sent); ``result`` is the 0x0001 result when the answer is one."""

    msg_id: int
    serial: int
    replies: tuple[int, ...]
    result: int


@dataclass(frozen=True, slots=True)
class PlatformMessageRejected:
    """Bytes from the platform that did not decode, or a message for another phone."""

    error: ProtocolError | None
    reason: str


TerminalEvent = (
    Registered
    | RegistrationRefused
    | Authenticated
    | AuthenticationRefused
    | Acknowledged
    | AckMissing
    | UploadCompleted
    | PacketsResent
    | CommandReplied
    | PlatformMessageRejected
    | PartialMessageDropped
)


@dataclass(slots=True)
class TerminalStats:
    """Counters of one terminal (every link it had)."""

    bytes_sent: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    messages_sent: dict[int, int] = field(default_factory=dict)
    messages_received: dict[int, int] = field(default_factory=dict)
    reports_sent: int = 0
    reports_acked: int = 0
    report_messages_sent: int = 0
    report_messages_acked: int = 0
    refused: int = 0  # 0x8001 with a result other than success
    missing: int = 0  # tracked messages given up
    unexpected_acks: int = 0  # 0x8001 naming nothing we wait for
    commands: dict[int, int] = field(default_factory=dict)
    packets_resent: int = 0
    uploads_completed: int = 0
    rejected: int = 0
    encrypted_sent: int = 0  # messages sent with an RSA-encrypted body
    encrypted_received: int = 0


@dataclass(slots=True)
class _Sent:
    msg_id: int
    sent_at: float
    reports: int


@dataclass(slots=True)
class _Upload:
    split: SplitMessage
    started_at: float
    packets_acked: int = 0


def _count(counts: dict[int, int], key: int, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


# --------------------------------------------------------------------------------------------
# The terminal


class SimulatedTerminal:
    """One terminal; see the module docstring."""

    def __init__(
        self,
        profile: TerminalProfile,
        *,
        now: float,
        started_at: datetime,
        track: Track | None = None,
        auth_code: str | None = None,
        heartbeat_interval_s: int = 30,
        photo_upload_size: int = 0,
        first_serial: int = 0,
        rsa: bool = False,
    ) -> None:
        if not 0 <= photo_upload_size <= MAX_UPLOAD_SIZE:
            raise ValueError(f"photo_upload_size must be 0..{MAX_UPLOAD_SIZE}")
        self.profile = profile
        self.version = profile.version
        self.phone = profile.phone
        self.state = LinkState.OFFLINE
        self.auth_code = auth_code or None
        self.track = track or Track()
        self.stats = TerminalStats()
        self.doors_locked = True
        self.parameters = default_parameters(profile, heartbeat_interval_s=heartbeat_interval_s)
        self.platform_rsa_key: PlatformRsaKey | None = None
        #: RSA body encryption: this terminal's key pair (``rsa=True``), the platform's public
        #: key it encrypts with once known, and whether its own 0x0A00 awaits the 0x8A00.
        self.rsa_key: RsaKeyPair | None = RsaKeyPair.generate() if rsa else None
        self._encrypt_with: RsaPublicKey | None = None
        self._key_offered = False
        self.photo_upload_size = photo_upload_size
        #: ``now`` of the last message queued (a heartbeat is due when the link was quiet).
        self.last_sent_at = now
        self._created = now
        self._started_at = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
        self._protocol_version = 1 if profile.version is V2019 else 0
        self._serial = first_serial % SERIAL_MODULUS
        self._decoder = FrameDecoder()
        self._outgoing: list[bytes] = []
        self._queued_ids: list[int] = []  # message id of each message in ``_outgoing``
        self._awaiting: OrderedDict[int, _Sent] = OrderedDict()
        #: Events of sending (messages evicted from ``_awaiting``), handed out by the next
        #: ``receive_data`` or ``expire``.
        self._deferred: list[TerminalEvent] = []
        self._unacked_reports = 0
        self._unacked_report_messages = 0
        self._login_serial: int | None = None
        self._login_sent_at = now
        self._registered_on_this_link = False
        self._last_sample_t = 0.0
        self._frames = UplinkFrames(profile.phone, profile.version, self._protocol_version)
        #: The header of a 0x8001 to this terminal as a gateway writes it (unescaped).
        self._ack_head = general_response_head(profile.phone, profile.version)
        #: The 0x0200 body of the current second, its XOR, and what it was built from.
        self._report_key: tuple[int, bool, bytes | None] | None = None
        self._report_body = (b"", 0)
        self._sent = SentCache(max_messages=8, max_bytes=2 * MiB)
        self._reassembler = Reassembler(max_partials=4)
        self._uploads: OrderedDict[int, _Upload] = OrderedDict()
        self._media: deque[MediaSearchItem] = deque(maxlen=MAX_MEDIA)
        self._next_media_id = 1
        self._circles: dict[int, CircleArea] = {}
        self._rectangles: dict[int, RectangleArea] = {}
        self._polygons: dict[int, SetPolygonArea] = {}
        self._routes: dict[int, SetRoute] = {}

    # ----------------------------------------------------------------------------------------
    # State

    @property
    def online(self) -> bool:
        return self.state is LinkState.ONLINE

    @property
    def unacked_report_messages(self) -> int:
        """0x0200/0x0704 messages sent and not acknowledged yet (the window of a load run)."""
        return self._unacked_report_messages

    @property
    def unacked_reports(self) -> int:
        """Location reports (items of batches counted one by one) not acknowledged yet."""
        return self._unacked_reports

    @property
    def awaiting(self) -> int:
        """Tracked messages waiting for their 0x8001."""
        return len(self._awaiting)

    @property
    def uploads_pending(self) -> int:
        return len(self._uploads)

    @property
    def next_serial(self) -> int:
        """The serial the next frame will carry."""
        return self._serial

    def oldest_awaiting_since(self) -> float | None:
        """``now`` at which the oldest tracked message still waiting was sent."""
        for sent in self._awaiting.values():
            return sent.sent_at
        return None

    # ----------------------------------------------------------------------------------------
    # The link

    def connect(self, now: float) -> list[TerminalEvent]:
        """A new connection: queue 0x0102 with the known auth code, else 0x0100.

        Whatever was waiting on an earlier connection is given up (``AckMissing``), and bytes
        queued for it and not taken are dropped.
        """
        events = self._give_up_all(MissingReason.DISCONNECTED)
        events += self._reassembler.close(now)
        self._decoder = FrameDecoder()
        self._outgoing.clear()
        self._queued_ids.clear()
        self._registered_on_this_link = False
        if self.auth_code:
            self._authenticate(now)
        else:
            self._register(now)
        return events

    def connection_lost(self, now: float) -> list[TerminalEvent]:
        """The transport closed: the terminal is offline; tracked messages are given up."""
        if self.state is not LinkState.FAILED:
            self.state = LinkState.OFFLINE
        self._outgoing.clear()
        self._queued_ids.clear()
        return [*self._give_up_all(MissingReason.DISCONNECTED), *self._reassembler.close(now)]

    def data_to_send(self) -> bytes:
        """Bytes queued for the platform (handing them over counts as sending them)."""
        if not self._outgoing:
            return b""
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        self._queued_ids.clear()
        self.stats.bytes_sent += len(data)
        return data

    def receive_data(self, data: bytes, now: float) -> list[TerminalEvent]:
        """Bytes from the platform; returns what they did."""
        self.stats.bytes_received += len(data)
        self._decoder.receive_data(data)
        events = self._take_deferred()
        while True:
            event = self._decoder.next_event()
            if isinstance(event, NeedData):
                return events
            if isinstance(event, FramingError):
                self.stats.rejected += 1
                events.append(PlatformMessageRejected(event, "framing"))
                continue
            events += self._handle_packet(event, now)

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` has work (reassembly of a split platform command)."""
        return self._reassembler.next_deadline()

    def handle_timer(self, now: float) -> list[TerminalEvent]:
        """Ask again for missing packets of a split command (0x0005, 2019) or give it up."""
        events: list[TerminalEvent] = []
        for event in self._reassembler.handle_timer(now):
            if isinstance(event, RetransmissionRequested):
                if self.version is V2019:
                    request = TerminalRetransmitRequest(
                        original_serial=event.original_serial, packet_ids=list(event.packet_ids)
                    )
                    self._send(request, now)
            else:
                events.append(event)
        return events

    def expire(self, now: float, timeout: float) -> list[TerminalEvent]:
        """Give up the tracked messages sent ``timeout`` seconds or more before ``now`` (and
        hand out those given up earlier because too many were waiting)."""
        events = self._take_deferred()
        awaiting = self._awaiting
        while awaiting:
            serial, sent = next(iter(awaiting.items()))
            if now - sent.sent_at < timeout:
                break
            del awaiting[serial]
            events.append(self._missing(serial, sent, MissingReason.TIMEOUT))
        return events

    # ----------------------------------------------------------------------------------------
    # What the terminal sends on its own

    def heartbeat(self, now: float) -> int:
        """Queue a 0x0002; returns its serial."""
        return self._send_tracked(Heartbeat(), now, reports=0)

    def location(self, now: float) -> LocationReport:
        """Where the vehicle is at ``now``, as a 0x0200 body."""
        t = max(0.0, now - self._created)
        self._last_sample_t = max(self._last_sample_t, t)
        return self._location_at(t)

    def report_location(self, now: float) -> int:
        """Queue a 0x0200 with the position at ``now``; returns its serial.

        The report says where the vehicle was at the whole second its time field carries
        (JT/T 808 times are whole seconds), so a terminal reporting many times a second builds
        that body once a second and only stamps each frame with its serial.
        """
        self.stats.reports_sent += 1
        self.stats.report_messages_sent += 1
        if self._encrypt_with is not None:
            return self._send_tracked(self.location(now), now, reports=1)
        t = max(0.0, now - self._created)
        self._last_sample_t = max(self._last_sample_t, t)
        # What the body depends on besides the time: the door bit and the speed limit.
        key = (int(t), self.doors_locked, self.parameters.get(ParameterId.MAX_SPEED))
        if key != self._report_key:
            body = encode_body(self._location_at(float(key[0])), self.version)
            self._report_key, self._report_body = key, (body, checksum(body))
        body, body_xor = self._report_body
        if len(body) > LENGTH_MASK:  # vendor items could make it long: sub-packaged
            return self._send_tracked(self._location_at(float(key[0])), now, reports=1)
        serial = self._next_serial()
        self._outgoing.append(self._frames.frame(M.LOCATION_REPORT, serial, body, body_xor))
        self._queued_ids.append(M.LOCATION_REPORT)
        self.stats.frames_sent += 1
        _count(self.stats.messages_sent, M.LOCATION_REPORT)
        self.last_sent_at = now
        self._track(serial, _Sent(M.LOCATION_REPORT, now, 1))
        return serial

    def report_batch(self, count: int, now: float, *, blind_area: bool = False) -> int:
        """Queue a 0x0704 of ``count`` positions (type 1 when ``blind_area``); returns the
        serial whose 0x8001 acknowledges it (the last packet's when it had to be split).

        The positions are samples spread evenly over the time since the previous report, the
        last one at ``now``: what a terminal that buffers and uploads in batches would have.
        """
        if self.version < LocationBatch.SINCE:
            raise ValueError(f"0x0704 does not exist in JT/T 808-{self.version}")
        if not 1 <= count <= 0xFFFF:
            raise ValueError("a 0x0704 batch holds 1..65535 reports")
        t_now = max(self._last_sample_t, now - self._created)
        t_prev = self._last_sample_t
        items = [
            self._location_at(t_prev + (t_now - t_prev) * i / count) for i in range(1, 1 + count)
        ]
        self._last_sample_t = t_now
        kind = LocationBatchType.BLIND_AREA if blind_area else LocationBatchType.NORMAL
        self.stats.reports_sent += count
        self.stats.report_messages_sent += 1
        return self._send_tracked(LocationBatch(type=int(kind), items=items), now, reports=count)

    def upload_media(
        self,
        size: int,
        now: float,
        *,
        channel_id: int = 1,
        event: int = MediaEvent.PLATFORM_COMMAND,
        media_id: int | None = None,
    ) -> int:
        """Queue a 0x0801 carrying a JPEG-looking file of ``size`` bytes (split into packets
        when the body passes 1023 bytes); returns its media id. The 0x8800 that lists no
        packet to resend gives ``UploadCompleted``."""
        if not 4 <= size <= MAX_UPLOAD_SIZE:
            raise ValueError(f"a media file is 4..{MAX_UPLOAD_SIZE} bytes")
        if media_id is None:
            media_id = self._new_media_id()
        location = self.location(now)
        self._remember_media(media_id, MediaType.IMAGE, channel_id, event, location)
        body = MultimediaData(
            media_id=media_id,
            media_type=MediaType.IMAGE,
            media_format=MediaFormat.JPEG,
            event=event,
            channel_id=channel_id,
            location=location,
            data=_fake_jpeg(size, media_id),
        )
        split = self._send(body, now)
        self._uploads.pop(media_id, None)
        self._uploads[media_id] = _Upload(split, now)
        while len(self._uploads) > MAX_UPLOADS:
            self._uploads.popitem(last=False)
        return media_id

    def offer_rsa_key(self, now: float) -> None:
        """Queue a 0x0A00 with this terminal's key: the platform answers with its 0x8A00, and
        from then on the bodies are encrypted both ways."""
        assert self.rsa_key is not None, "a terminal made with rsa=True"
        self._key_offered = True
        self._send(self.rsa_key.terminal_body(), now)

    @property
    def encrypting(self) -> bool:
        """True once this terminal encrypts what it sends."""
        return self._encrypt_with is not None

    def logout(self, now: float) -> int:
        """Queue a 0x0003; the terminal forgets its auth code (it must register again) and
        is offline until it connects again."""
        self.auth_code = None
        if self.state is not LinkState.FAILED:
            self.state = LinkState.OFFLINE
        return self._send_tracked(TerminalLogout(), now, reports=0)

    # ----------------------------------------------------------------------------------------
    # Login

    def _register(self, now: float) -> None:
        self.state = LinkState.REGISTERING
        self._registered_on_this_link = True
        split = self._send(self.profile.registration(), now)
        self._login_serial = split.first_serial
        self._login_sent_at = now

    def _authenticate(self, now: float) -> None:
        assert self.auth_code is not None
        self.state = LinkState.AUTHENTICATING
        split = self._send(self.profile.authentication(self.auth_code), now)
        self._login_serial = split.first_serial
        self._login_sent_at = now

    def _on_register_response(
        self, body: TerminalRegisterResponse, now: float
    ) -> list[TerminalEvent]:
        if self.state is not LinkState.REGISTERING or body.reply_serial != self._login_serial:
            self.stats.unexpected_acks += 1
            return []
        if body.result != RegisterResult.SUCCESS:
            self.state = LinkState.FAILED
            return [RegistrationRefused(body.result)]
        self.auth_code = body.auth_code
        latency = now - self._login_sent_at
        self._authenticate(now)
        return [Registered(body.auth_code, latency)]

    def _on_authentication_response(self, result: int, now: float) -> list[TerminalEvent]:
        if result == ResultCode.SUCCESS:
            self.state = LinkState.ONLINE
            if self.rsa_key is not None:
                self.offer_rsa_key(now)
            return [Authenticated(now - self._login_sent_at)]
        if not self._registered_on_this_link:
            self.auth_code = None
            self._register(now)
            return [AuthenticationRefused(result, registering_again=True)]
        self.state = LinkState.FAILED
        return [AuthenticationRefused(result, registering_again=False)]

    # ----------------------------------------------------------------------------------------
    # Platform messages

    def _handle_packet(self, packet: bytes, now: float) -> list[TerminalEvent]:
        self.stats.frames_received += 1
        head = self._ack_head
        if (
            len(packet) == len(head) + _ACK_TAIL.size
            and packet.startswith(head)
            and not checksum(packet)  # the check code makes the XOR of a whole packet 0
        ):
            # The 0x8001 that answers nearly every message: read in place, no decoding.
            _, reply_serial, reply_id, result, _ = _ACK_TAIL.unpack_from(packet, len(head))
            _count(self.stats.messages_received, M.PLATFORM_GENERAL_RESPONSE)
            return self._acknowledged(reply_id, reply_serial, result, now)
        try:
            message = decode_packet(packet, version_hint=self.version)
        except ProtocolError as error:
            self.stats.rejected += 1
            header = error.header
            if (
                header is not None
                and header.msg_id >= 0x8000
                and header.msg_id not in _NOT_COMMANDS
            ):
                self._general(header.serial, header.msg_id, error.result_code, now)
            return [PlatformMessageRejected(error, "undecodable")]
        header = message.header
        _count(self.stats.messages_received, header.msg_id)
        if header.phone != self.phone:
            self.stats.rejected += 1
            return [PlatformMessageRejected(None, f"message for phone {header.phone}")]
        if isinstance(message.body, Fragment):
            try:
                done = self._reassembler.receive_fragment(message, now)
            except SubpackageError as error:
                self.stats.rejected += 1
                return [PlatformMessageRejected(error, "bad packet")]
            if done is None:
                return []
            if done.message is None:
                assert done.error is not None
                self.stats.rejected += 1
                self._general(done.last_serial, done.msg_id, done.error.result_code, now)
                return [PlatformMessageRejected(done.error, "undecodable")]
            opened = self._decrypted(done.message, now, done.last_serial)
            if isinstance(opened, list):
                return opened
            return self._dispatch(opened, now, done.last_serial)
        opened = self._decrypted(message, now, header.serial)
        if isinstance(opened, list):
            return opened
        return self._dispatch(opened, now, header.serial)

    def _decrypted(
        self, message: Message, now: float, last_serial: int
    ) -> Message | list[TerminalEvent]:
        """The plain message of an encrypted one (answered 0x0001 result 3 without a key, 2
        when it does not decrypt)."""
        header = message.header
        body = message.body
        if not header.encryption & RSA_ENCRYPTION or not isinstance(body, RawBody):
            return message
        self.stats.encrypted_received += 1
        if self.rsa_key is None:
            self.stats.rejected += 1
            self._general(last_serial, header.msg_id, ResultCode.UNSUPPORTED, now)
            return [PlatformMessageRejected(None, "encrypted, and this terminal has no RSA key")]
        try:
            plain, trailing = decode_body(
                header.msg_id, self.rsa_key.decrypt(body.raw), header.version
            )
        except ProtocolError as error:
            self.stats.rejected += 1
            self._general(last_serial, header.msg_id, ResultCode.MESSAGE_ERROR, now)
            return [PlatformMessageRejected(error, "undecryptable")]
        return Message(header, plain, trailing)

    def _dispatch(self, message: Message, now: float, last_serial: int) -> list[TerminalEvent]:
        msg_id = message.msg_id
        body = message.body
        if msg_id == M.PLATFORM_GENERAL_RESPONSE and isinstance(body, PlatformGeneralResponse):
            return self._on_ack(body, now)
        if msg_id == M.TERMINAL_REGISTER_RESPONSE and isinstance(body, TerminalRegisterResponse):
            return self._on_register_response(body, now)
        if msg_id == M.MULTIMEDIA_DATA_RESPONSE and isinstance(body, MultimediaDataResponse):
            return self._on_media_response(body, now)
        if msg_id == M.PLATFORM_RETRANSMIT_REQUEST and isinstance(body, PlatformRetransmitRequest):
            return self._on_retransmit_request(message.header, body, now)
        if msg_id < 0x8000 or msg_id in _NOT_COMMANDS:
            self.stats.rejected += 1
            return [PlatformMessageRejected(None, f"0x{msg_id:04X} is not a platform command")]
        return self._answer_command(message, now, last_serial)

    def _on_ack(self, body: PlatformGeneralResponse, now: float) -> list[TerminalEvent]:
        return self._acknowledged(body.reply_id, body.reply_serial, body.result, now)

    def _acknowledged(
        self, reply_id: int, serial: int, result: int, now: float
    ) -> list[TerminalEvent]:
        if reply_id == M.TERMINAL_AUTHENTICATE:
            if self.state is LinkState.AUTHENTICATING and serial == self._login_serial:
                return self._on_authentication_response(result, now)
            self.stats.unexpected_acks += 1
            return []
        if reply_id == M.MULTIMEDIA_DATA:
            for upload in self._uploads.values():
                if serial in upload.split.serials:
                    upload.packets_acked += 1
                    return []
            return []  # an upload already completed or given up
        sent = self._awaiting.get(serial)
        if sent is None or sent.msg_id != reply_id:
            self.stats.unexpected_acks += 1
            return []
        del self._awaiting[serial]
        self._settle(sent)
        if result in _ACCEPTED:
            self.stats.reports_acked += sent.reports
            if sent.reports:
                self.stats.report_messages_acked += 1
        else:
            self.stats.refused += 1
        return [Acknowledged(reply_id, serial, result, now - sent.sent_at, sent.reports)]

    def _on_media_response(self, body: MultimediaDataResponse, now: float) -> list[TerminalEvent]:
        upload = self._uploads.get(body.media_id)
        if upload is None:
            self.stats.unexpected_acks += 1
            return []
        if body.complete:
            del self._uploads[body.media_id]
            self.stats.uploads_completed += 1
            return [UploadCompleted(body.media_id, upload.split.total, now - upload.started_at)]
        ids = tuple(body.retransmit_ids or ())
        return self._resend(upload.split, ids, now)

    def _on_retransmit_request(
        self, header: Header, body: PlatformRetransmitRequest, now: float
    ) -> list[TerminalEvent]:
        split = self._sent.get(body.original_serial)
        if split is None:
            self._general(header.serial, header.msg_id, ResultCode.FAILURE, now)
            return [CommandReplied(header.msg_id, header.serial, (M.TERMINAL_GENERAL_RESPONSE,), 1)]
        # An empty list cannot ask for "nothing": it is read as "every packet".
        ids = tuple(body.packet_ids) or tuple(range(1, split.total + 1))
        return self._resend(split, ids, now)

    def _resend(self, split: SplitMessage, ids: tuple[int, ...], now: float) -> list[TerminalEvent]:
        frames = split.frames_for(ids)
        self._outgoing.extend(frames)
        self._queued_ids.append(split.msg_id)
        self.stats.frames_sent += len(frames)
        self.stats.packets_resent += len(frames)
        self.last_sent_at = now
        return [PacketsResent(split.msg_id, split.first_serial, ids)]

    # ----------------------------------------------------------------------------------------
    # Platform commands

    def _answer_command(
        self, message: Message, now: float, last_serial: int
    ) -> list[TerminalEvent]:
        header = message.header
        msg_id = header.msg_id
        _count(self.stats.commands, msg_id)
        layout = body_class(msg_id)
        unsupported = (
            layout is None
            or isinstance(message.body, RawBody)
            or self.version < layout.SINCE
            or (self.version is V2019 and msg_id in REMOVED_IN_2019)
        )
        if unsupported:
            self._general(last_serial, msg_id, ResultCode.UNSUPPORTED, now)
            return [self._replied(header, ResultCode.UNSUPPORTED)]
        handler = _HANDLERS.get(msg_id)
        if handler is None:
            self._general(last_serial, msg_id, ResultCode.SUCCESS, now)
            return [self._replied(header, ResultCode.SUCCESS)]
        before = len(self._queued_ids)
        result = handler(self, message, now, last_serial)
        replies = tuple(self._queued_ids[before:])
        return [CommandReplied(msg_id, header.serial, replies, int(result))]

    def _replied(self, header: Header, result: int) -> CommandReplied:
        return CommandReplied(header.msg_id, header.serial, (M.TERMINAL_GENERAL_RESPONSE,), result)

    def _set_parameters(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, SetParameters)
        new_ids = {item.id for item in body.parameters} - self.parameters.keys()
        if len(self.parameters) + len(new_ids) > MAX_PARAMETERS:
            return self._general(last_serial, message.msg_id, ResultCode.FAILURE, now)
        for item in body.parameters:
            self.parameters[item.id] = item.raw
        return self._general(last_serial, message.msg_id, ResultCode.SUCCESS, now)

    def _query_parameters(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        held = self._current_parameters()
        if isinstance(body, QueryParameters):
            asked = list(dict.fromkeys(body.ids))
            items = [Parameter(id=pid, raw=held[pid]) for pid in asked if pid in held]
        else:
            items = [Parameter(id=pid, raw=raw) for pid, raw in sorted(held.items())]
        reply = QueryParametersResponse(reply_serial=message.header.serial, parameters=items)
        self._send(reply, now)
        return ResultCode.SUCCESS

    def _current_parameters(self) -> dict[int, bytes]:
        held = dict(self.parameters)
        if ParameterId.ODOMETER in held:
            odometer = round(self.track.sample(self._last_sample_t).odometer_km * 10)
            held[ParameterId.ODOMETER] = Parameter.of(ParameterId.ODOMETER, odometer).raw
        return held

    def _query_attributes(self, message: Message, now: float, last_serial: int) -> int:
        self._send(_attributes(self.profile), now)
        return ResultCode.SUCCESS

    def _query_location(self, message: Message, now: float, last_serial: int) -> int:
        reply = QueryLocationResponse(
            reply_serial=message.header.serial, location=self.location(now)
        )
        self._send(reply, now)
        return ResultCode.SUCCESS

    def _vehicle_control(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, VehicleControl)
        if self.version is V2019:
            if body.undecoded_count:  # a control type this terminal does not have
                return self._general(last_serial, message.msg_id, ResultCode.UNSUPPORTED, now)
            for item in body.items:
                if item.control_type == ControlType.DOOR:
                    self.doors_locked = item.parameter == DoorCommand.CLOSE_AND_LOCK
        else:
            self.doors_locked = bool(body.control_flags & VehicleControlFlag.LOCK_DOORS)
        self._general(last_serial, message.msg_id, ResultCode.SUCCESS, now)
        reply = VehicleControlResponse(
            reply_serial=message.header.serial, location=self.location(now)
        )
        self._send(reply, now)
        return ResultCode.SUCCESS

    def _question(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, Question)
        self._general(last_serial, message.msg_id, ResultCode.SUCCESS, now)
        answer = body.answers[0].answer_id if body.answers else 0
        self._send(QuestionAnswer(reply_serial=message.header.serial, answer_id=answer), now)
        return ResultCode.SUCCESS

    def _upgrade(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, UpgradePackage)
        self._general(last_serial, message.msg_id, ResultCode.SUCCESS, now)
        result = UpgradeResult(upgrade_type=body.upgrade_type, result=UpgradeResultCode.SUCCESS)
        self._send_tracked(result, now, reports=0)  # the platform acknowledges it with 0x8001
        return ResultCode.SUCCESS

    def _tachograph(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, TachographCollect)
        data = tachograph_frame(body.command, self._tachograph_data(body.command, now))
        reply = TachographUpload(
            reply_serial=message.header.serial, command=body.command, data=data
        )
        self._send(reply, now)
        return ResultCode.SUCCESS

    def _tachograph_data(self, command: int, now: float) -> bytes:
        """Data blocks of the GB/T 19056-2012 commands a simulator can answer plausibly."""
        if command == 0x00:  # standard version: 2012, revision 0
            return bytes((0x12, 0x00))
        if command == 0x01:  # driver's licence number, 18 bytes
            return f"44030019800101{self.phone[-4:]}".encode()
        if command == 0x02:  # real time, BCD YYMMDDhhmmss
            return bytes.fromhex(self.wall_time(now).strftime("%y%m%d%H%M%S"))
        return b""

    def _driver_identity(self, message: Message, now: float, last_serial: int) -> int:
        report = DriverIdentityReport(
            status=CardStatus.INSERTED,
            time=self.wall_time(now),
            read_result=CardReadResult.SUCCESS,
            driver_name="张三",
            qualification_number=f"QC{self.phone[-18:]:0>18}",
            issuing_authority="深圳市交通运输局",
            licence_expiry=date(2030, 12, 31),
            id_card_number="440300198001010000" if self.version is V2019 else "",
        )
        self._send(report, now)
        return ResultCode.SUCCESS

    def _take_photo(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, TakePhoto)
        media_ids: list[int] = []
        if not 1 <= body.channel_id <= self.profile.camera_channels:
            result = TakePhotoResult.CHANNEL_NOT_SUPPORTED
        else:
            result = TakePhotoResult.SUCCESS
            location = self.location(now)
            if body.command == RECORD_VIDEO:
                kind, taken = MediaType.VIDEO, 1
            else:  # STOP_CAPTURE (0) takes nothing
                kind, taken = MediaType.IMAGE, min(body.command, MAX_PHOTOS_PER_COMMAND)
            for _ in range(taken):
                media_id = self._new_media_id()
                media_ids.append(media_id)
                event = MediaEvent.PLATFORM_COMMAND
                self._remember_media(media_id, kind, body.channel_id, event, location)
        if self.version is V2011:  # 2011 has no 0x0805: the general response is the answer
            general = (
                ResultCode.SUCCESS if result == TakePhotoResult.SUCCESS else ResultCode.FAILURE
            )
            self._general(last_serial, message.msg_id, general, now)
        else:
            reply = TakePhotoResponse(
                reply_serial=message.header.serial, result=result, media_ids=media_ids
            )
            self._send(reply, now)
        if body.save == 0 and self.photo_upload_size and result == TakePhotoResult.SUCCESS:
            for media_id in media_ids if body.command != RECORD_VIDEO else ():
                self.upload_media(
                    self.photo_upload_size, now, channel_id=body.channel_id, media_id=media_id
                )
        return ResultCode.SUCCESS

    def _search_media(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, SearchMedia)
        items = [
            item
            for item in self._media
            if item.media_type == body.media_type
            and body.channel_id in (0, item.channel_id)
            and item.event == body.event
            and _within(item.location.time, body.start_time, body.end_time)
        ]
        self._send(SearchMediaResponse(reply_serial=message.header.serial, items=items), now)
        return ResultCode.SUCCESS

    def _set_areas(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        stored: dict[int, Any]
        entries: list[tuple[int, Any]]
        set_type = int(AreaSetType.APPEND)  # one polygon or route a message: added or replaced
        if isinstance(body, SetCircleAreas):
            stored, set_type = self._circles, body.set_type
            entries = [(area.area_id, area) for area in body.areas]
        elif isinstance(body, SetRectangleAreas):
            stored, set_type = self._rectangles, body.set_type
            entries = [(area.area_id, area) for area in body.areas]
        elif isinstance(body, SetPolygonArea):
            stored, entries = self._polygons, [(body.area_id, body)]
        else:
            assert isinstance(body, SetRoute)
            stored, entries = self._routes, [(body.route_id, body)]
        if set_type not in AreaSetType._value2member_map_:
            return self._general(last_serial, message.msg_id, ResultCode.MESSAGE_ERROR, now)
        fresh: dict[int, Any] = {} if set_type == AreaSetType.UPDATE else dict(stored)
        fresh.update(entries)
        if len(fresh) > MAX_AREAS:
            return self._general(last_serial, message.msg_id, ResultCode.FAILURE, now)
        stored.clear()
        stored.update(fresh)
        return self._general(last_serial, message.msg_id, ResultCode.SUCCESS, now)

    def _delete_areas(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        stored: dict[int, Any]
        ids: list[int]
        if isinstance(body, DeleteCircleAreas):
            stored, ids = self._circles, body.area_ids
        elif isinstance(body, DeleteRectangleAreas):
            stored, ids = self._rectangles, body.area_ids
        elif isinstance(body, DeletePolygonAreas):
            stored, ids = self._polygons, body.area_ids
        else:
            assert isinstance(body, DeleteRoutes)
            stored, ids = self._routes, body.route_ids
        if not ids:
            stored.clear()
        for area_id in ids:
            stored.pop(area_id, None)
        return self._general(last_serial, message.msg_id, ResultCode.SUCCESS, now)

    def _query_areas(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, QueryAreas)
        wanted = set(body.ids)

        def chosen(area_id: int) -> bool:
            return not wanted or area_id in wanted

        items: list[Any]
        if body.query_type == AreaQueryType.CIRCLE:
            items = [
                SetCircleAreas(set_type=AreaSetType.UPDATE, areas=[area])
                for area_id, area in sorted(self._circles.items())
                if chosen(area_id)
            ]
        elif body.query_type == AreaQueryType.RECTANGLE:
            items = [
                SetRectangleAreas(set_type=AreaSetType.UPDATE, areas=[area])
                for area_id, area in sorted(self._rectangles.items())
                if chosen(area_id)
            ]
        elif body.query_type == AreaQueryType.POLYGON:
            items = [area for area_id, area in sorted(self._polygons.items()) if chosen(area_id)]
        elif body.query_type == AreaQueryType.ROUTE:
            items = [route for route_id, route in sorted(self._routes.items()) if chosen(route_id)]
        else:
            return self._general(last_serial, message.msg_id, ResultCode.MESSAGE_ERROR, now)
        self._send(QueryAreasResponse(query_type=body.query_type, items=items), now)
        return ResultCode.SUCCESS

    def _rsa_key(self, message: Message, now: float, last_serial: int) -> int:
        body = message.body
        assert isinstance(body, PlatformRsaKey)
        self.platform_rsa_key = body
        if self.rsa_key is not None:
            try:
                self._encrypt_with = RsaPublicKey.of(body)
            except RsaKeyError:
                self._encrypt_with = None
                return self._general(last_serial, message.msg_id, ResultCode.MESSAGE_ERROR, now)
            if self._key_offered:  # the answer to our own 0x0A00: nothing more to say
                self._key_offered = False
                return ResultCode.SUCCESS
            self._send(self.rsa_key.terminal_body(), now)
            return ResultCode.SUCCESS
        self._send(TerminalRsaKey(exponent=65537, modulus=self.rsa_modulus), now)
        return ResultCode.SUCCESS

    @property
    def rsa_modulus(self) -> bytes:
        """The terminal's RSA modulus: its real key's with ``rsa=True``, else a 1024-bit number
        standing in for one (not a key: such a terminal never encrypts), fixed per phone."""
        if self.rsa_key is not None:
            return self.rsa_key.public.modulus
        seed = hashlib.sha512(self.phone.encode()).digest()
        raw = bytearray(seed + hashlib.sha512(seed).digest())
        raw[0] |= 0x80
        raw[-1] |= 0x01
        return bytes(raw)

    # ----------------------------------------------------------------------------------------
    # Output

    def wall_time(self, now: float) -> datetime:
        """The terminal's clock at ``now``: GMT+8, whole seconds."""
        moment = self._started_at + timedelta(seconds=max(0.0, now - self._created))
        return moment.astimezone(CHINA_TZ).replace(microsecond=0)

    def _location_at(self, t: float) -> LocationReport:
        point = self.track.sample(t)
        status = StatusFlag.ACC_ON | StatusFlag.POSITIONED | StatusFlag.GPS_USED
        if self.version is not V2011:
            status |= StatusFlag.BEIDOU_USED
        if self.doors_locked:
            status |= StatusFlag.DOOR_LOCKED
        if self.version is V2019 and point.moving:
            status |= StatusFlag.MOVING
        alarm = AlarmFlag(0)
        max_speed = self.parameters.get(ParameterId.MAX_SPEED)
        if (
            max_speed is not None
            and len(max_speed) == 4
            and point.speed_kmh > int.from_bytes(max_speed, "big")
        ):
            alarm |= AlarmFlag.OVERSPEED
        return LocationReport(
            alarm=int(alarm),
            status=int(status),
            latitude=point.latitude,
            longitude=point.longitude,
            altitude=point.altitude_m,
            speed=point.speed_kmh,
            direction=round(point.heading_deg) % 360,
            time=self.wall_time(self._created + t),
            extras=self._extras(point),
        )

    def _extras(self, point: TrackPoint) -> list[AdditionalInfo]:
        extras = [
            AdditionalInfo.of(0x01, round(point.odometer_km, 1)),  # mileage, 0.1 km
            AdditionalInfo.of(0x02, round(point.fuel_l, 1)),  # fuel, 0.1 L
            AdditionalInfo.of(0x03, point.speed_kmh),  # tachograph speed, 0.1 km/h
        ]
        if self.version is not V2011:  # 0x30 and 0x31 came with 2013
            extras.append(AdditionalInfo.of(0x30, point.signal_strength))
            extras.append(AdditionalInfo.of(0x31, point.satellites))
        return extras

    def _next_serial(self) -> int:
        serial = self._serial
        self._serial = (serial + 1) % SERIAL_MODULUS
        return serial

    def _send(self, body: Body, now: float) -> SplitMessage:
        msg_id = body.MSG_ID
        header = Header(msg_id, self.phone, 0, self.version, self._protocol_version)
        data = encode_body(body, self.version)
        if self._encrypt_with is not None and data and msg_id != M.TERMINAL_RSA_KEY:
            data = self._encrypt_with.encrypt(data)
            header.encryption = RSA_ENCRYPTION
            self.stats.encrypted_sent += 1
        split = encode_split(header, data, self._next_serial)
        if split.total > 1:
            self._sent.add(split)
        self._outgoing.extend(split.frames)
        self._queued_ids.append(msg_id)
        self.stats.frames_sent += split.total
        _count(self.stats.messages_sent, msg_id)
        self.last_sent_at = now
        return split

    def _send_tracked(self, body: Body, now: float, *, reports: int) -> int:
        split = self._send(body, now)
        for serial in split.serials[:-1]:  # earlier packets: acknowledged, carrying nothing
            self._track(serial, _Sent(body.MSG_ID, now, 0))
        self._track(split.serials[-1], _Sent(body.MSG_ID, now, reports))
        return split.serials[-1]

    def _track(self, serial: int, sent: _Sent) -> None:
        awaiting = self._awaiting
        previous = awaiting.pop(serial, None)
        if previous is not None:  # the serial came round again: the old one is lost
            self._deferred.append(self._missing(serial, previous, MissingReason.EVICTED))
        awaiting[serial] = sent
        if sent.reports:
            self._unacked_reports += sent.reports
            self._unacked_report_messages += 1
        while len(awaiting) > MAX_AWAITING:
            old_serial, old = awaiting.popitem(last=False)
            self._deferred.append(self._missing(old_serial, old, MissingReason.EVICTED))

    def _settle(self, sent: _Sent) -> None:
        if sent.reports:
            self._unacked_reports -= sent.reports
            self._unacked_report_messages -= 1

    def _missing(self, serial: int, sent: _Sent, reason: MissingReason) -> AckMissing:
        self._settle(sent)
        self.stats.missing += 1
        return AckMissing(sent.msg_id, serial, sent.reports, reason)

    def _take_deferred(self) -> list[TerminalEvent]:
        events, self._deferred = self._deferred, []
        return events

    def _give_up_all(self, reason: MissingReason) -> list[TerminalEvent]:
        events = self._take_deferred()
        while self._awaiting:
            serial, sent = self._awaiting.popitem(last=False)
            events.append(self._missing(serial, sent, reason))
        self._uploads.clear()
        return events

    def _general(self, reply_serial: int, reply_id: int, result: int, now: float) -> int:
        body = TerminalGeneralResponse(reply_serial=reply_serial, reply_id=reply_id, result=result)
        self._send(body, now)
        return result

    def _new_media_id(self) -> int:
        media_id = self._next_media_id
        self._next_media_id = media_id % 0xFFFFFFFF + 1
        return media_id

    def _remember_media(
        self, media_id: int, media_type: int, channel_id: int, event: int, location: LocationReport
    ) -> None:
        self._media.append(
            MediaSearchItem(
                media_id=media_id,
                media_type=media_type,
                channel_id=channel_id,
                event=event,
                location=location,
            )
        )


_Handler = Callable[[SimulatedTerminal, Message, float, int], int]

#: Commands with an answer other than a plain 0x0001 result 0.
_HANDLERS: Final[dict[int, _Handler]] = {
    M.SET_PARAMETERS: SimulatedTerminal._set_parameters,
    M.QUERY_ALL_PARAMETERS: SimulatedTerminal._query_parameters,
    M.QUERY_PARAMETERS: SimulatedTerminal._query_parameters,
    M.QUERY_ATTRIBUTES: SimulatedTerminal._query_attributes,
    M.UPGRADE_PACKAGE: SimulatedTerminal._upgrade,
    M.QUERY_LOCATION: SimulatedTerminal._query_location,
    M.QUESTION: SimulatedTerminal._question,
    M.VEHICLE_CONTROL: SimulatedTerminal._vehicle_control,
    M.SET_CIRCLE_AREAS: SimulatedTerminal._set_areas,
    M.SET_RECTANGLE_AREAS: SimulatedTerminal._set_areas,
    M.SET_POLYGON_AREA: SimulatedTerminal._set_areas,
    M.SET_ROUTE: SimulatedTerminal._set_areas,
    M.DELETE_CIRCLE_AREAS: SimulatedTerminal._delete_areas,
    M.DELETE_RECTANGLE_AREAS: SimulatedTerminal._delete_areas,
    M.DELETE_POLYGON_AREAS: SimulatedTerminal._delete_areas,
    M.DELETE_ROUTES: SimulatedTerminal._delete_areas,
    M.QUERY_AREAS: SimulatedTerminal._query_areas,
    M.TACHOGRAPH_COLLECT: SimulatedTerminal._tachograph,
    M.REQUEST_DRIVER_IDENTITY: SimulatedTerminal._driver_identity,
    M.TAKE_PHOTO: SimulatedTerminal._take_photo,
    M.SEARCH_MEDIA: SimulatedTerminal._search_media,
    M.PLATFORM_RSA_KEY: SimulatedTerminal._rsa_key,
}


def tachograph_frame(command: int, data: bytes) -> bytes:
    """A GB/T 19056-2012 reply frame: 55 7A, command, length WORD, reserved, data, XOR check."""
    if len(data) > 0xFFFF:
        raise ValueError("a GB/T 19056 data block is at most 65535 bytes")
    frame = b"\x55\x7a" + bytes((command,)) + len(data).to_bytes(2, "big") + b"\x00" + data
    check = 0
    for byte in frame:
        check ^= byte
    return frame + bytes((check,))


def _fake_jpeg(size: int, seed: int) -> bytes:
    """``size`` bytes that start and end like a JPEG (SOI ... EOI), deterministic per seed."""
    filler = hashlib.sha256(seed.to_bytes(8, "big")).digest()
    middle = size - 4
    body = (filler * (middle // len(filler) + 1))[:middle]
    return b"\xff\xd8" + body + b"\xff\xd9"


def _within(moment: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if moment is None:
        return start is None and end is None
    return (start is None or moment >= start) and (end is None or moment <= end)


__all__ = [
    "MAX_AWAITING",
    "MAX_UPLOADS",
    "PHONE_DIGITS",
    "REMOVED_IN_2019",
    "AckMissing",
    "Acknowledged",
    "Authenticated",
    "AuthenticationRefused",
    "CommandReplied",
    "LinkState",
    "MissingReason",
    "PacketsResent",
    "PlatformMessageRejected",
    "Registered",
    "RegistrationRefused",
    "SimulatedTerminal",
    "TerminalEvent",
    "TerminalProfile",
    "TerminalStats",
    "UploadCompleted",
    "default_parameters",
    "device_profile",
    "fleet_profile",
    "format_phone",
    "tachograph_frame",
]
