"""The embedded device registry: known devices and their auth codes, in SQLite under the data dir.

Devices are imported by operators (``jt808 devices import``) and identified by manufacturer id,
terminal model and terminal id; optionally a phone and a plate pin them further. Registration of
a known device issues a random auth code bound to the terminal's phone; only a SHA-256 digest of
the code is stored (codes are 128-bit random, so a slow hash adds nothing), and the code itself
is never logged. Authentication checks the code bound to that phone; logout revokes it.

This class is synchronous (SQLite is local and fast); the async auth backend runs it in a worker
thread. One ``DeviceRegistry`` owns one connection and serialises access with a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from .auth.base import (
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
    device_name_of,
)
from .protocol.bodies.registration import RegisterResult
from .protocol.errors import shown
from .protocol.header import phone_key
from .protocol.wire import TEXT_ENCODING
from .server.logs import get_logger

DATABASE_NAME: Final = "devices.sqlite3"
#: How often a registry without a writable connection tries to open one (seconds, on use).
REOPEN_INTERVAL: Final = 1.0
AUTH_CODE_BYTES: Final = 16
#: When a registered terminal may register again (``--reregistration``): ``explicit`` only
#: after an explicit act (its logout, or an operator's ``jt808 devices reset``); ``offline``
#: also whenever neither its phone nor its device has a live session on the gateway.
REREGISTRATION_MODES: Final = ("explicit", "offline")
log = get_logger()

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS devices (
    manufacturer_id TEXT NOT NULL,
    terminal_model  TEXT NOT NULL,
    terminal_id     TEXT NOT NULL,
    phone           TEXT,
    plate           TEXT,
    plate_color     INTEGER,
    created_at      REAL NOT NULL,
    PRIMARY KEY (manufacturer_id, terminal_model, terminal_id)
);
CREATE TABLE IF NOT EXISTS credentials (
    phone           TEXT PRIMARY KEY,
    manufacturer_id TEXT NOT NULL,
    terminal_model  TEXT NOT NULL,
    terminal_id     TEXT NOT NULL,
    code_sha256     BLOB NOT NULL,
    issued_at       REAL NOT NULL,
    plate           TEXT,
    FOREIGN KEY (manufacturer_id, terminal_model, terminal_id)
        REFERENCES devices (manufacturer_id, terminal_model, terminal_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS credentials_by_device
    ON credentials (manufacturer_id, terminal_model, terminal_id);
"""


@dataclass(frozen=True, slots=True)
class Device:
    """A device the operator allows in. ``phone``/``plate`` empty: not pinned."""

    manufacturer_id: str
    terminal_model: str
    terminal_id: str
    phone: str = ""
    plate: str = ""
    plate_color: int | None = None

    @property
    def name(self) -> str:
        return device_name_of(self.manufacturer_id, self.terminal_model, self.terminal_id)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.manufacturer_id, self.terminal_model, self.terminal_id)


class DeviceImportError(ValueError):
    """A CSV row cannot be imported; the message names the line and the column."""


class CsvEncodingError(DeviceImportError):
    """A line of a CSV file is not text in the encoding it was read with."""


class CsvFileError(Exception):
    """A CSV file cannot be read at all (missing, a directory, no permission)."""


class RegistryUnavailableError(Exception):
    """The data directory cannot hold the registry (now); the message says why.

    ``passing``: a fault of the disk (full, read-only, failing) that may pass, as opposed to a
    settings mistake (the path is a file, the file is not a database) that will not."""

    def __init__(self, message: str, *, passing: bool = True) -> None:
        super().__init__(message)
        self.passing = passing


@dataclass(frozen=True, slots=True)
class CsvImport:
    """What an import wrote: distinct devices, and the rows that described one again."""

    imported: int
    #: (line, line of the first row for that device, device name) of each repeated row.
    repeated: list[tuple[int, int, str]] = field(default_factory=list)


def _digest(code: str) -> bytes:
    # surrogatepass: a code from the wire may carry bytes that are not text (kept as lone
    # surrogates by the core); such a code matches nothing, and must not raise.
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest()


def _is_text(*values: str) -> bool:
    """Whether every value is UTF-8 text (what SQLite stores; the wire may carry bytes that are
    not, kept as lone surrogates by the core, and no imported device has those)."""
    try:
        for value in values:
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class DeviceRegistry:
    """Devices and credentials in ``<data_dir>/devices.sqlite3`` (created on first use).

    Strict by default (``jt808 devices``): a registry that cannot be opened or written raises
    ``RegistryUnavailableError`` with one sentence. ``tolerant=True`` is how the gateway serves
    with it: a data dir that is full, read-only or failing at start is a fault it starts in,
    not a reason to stop (only a settings mistake is: see ``RegistryUnavailableError.passing``).
    Authentication then reads a read-only copy when one can be opened safely
    (``_open_read_only``), writes (registration, logout, imports) fail with
    ``RegistryUnavailableError``, and a writable connection is tried again at most every
    ``REOPEN_INTERVAL`` seconds, so the registry recovers by itself when the disk does. The
    change between working and failing writes is logged once each way.
    """

    def __init__(self, data_dir: Path | str, *, tolerant: bool = False) -> None:
        """Open (or create) the registry; ``RegistryUnavailableError`` says why it cannot."""
        self.path = Path(data_dir) / DATABASE_NAME
        self.tolerant = tolerant
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        #: Whether ``_db`` takes writes (False: a read-only copy, or none).
        self._writable = False
        #: Why writes fail now (None: they work, as far as we know).
        self._problem: str | None = None
        self._next_open = 0.0
        try:
            self._db = _open_writable(self.path)
        except RegistryUnavailableError as error:
            if not (tolerant and error.passing):
                raise
            self._fall_back(str(error))
        else:
            self._writable = True

    @property
    def writable(self) -> bool:
        """Whether the last write worked (or none failed yet) on a writable connection."""
        return self._writable and self._problem is None

    def close(self) -> None:
        with self._lock:
            self._next_open = math.inf  # closed for good: no reopening on a later call
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> DeviceRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    # Connections and faults

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads (under the lock); a failing read raises
        ``RegistryUnavailableError``."""
        with self._lock:
            db = self._connection(write=False)
            try:
                yield db
            except sqlite3.OperationalError as error:
                raise RegistryUnavailableError(_database_problem(error)) from None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error)
        under the lock; a write the disk refuses raises ``RegistryUnavailableError``, nothing
        of it stored."""
        with self._lock:
            db = self._connection(write=True)
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                if not isinstance(error, sqlite3.OperationalError):
                    raise
                problem = _database_problem(error)
                self._failed(problem)
                raise RegistryUnavailableError(problem) from None
            self._worked()

    def _connection(self, *, write: bool) -> sqlite3.Connection:
        """The open connection; without a writable one, a new try at most every
        ``REOPEN_INTERVAL`` seconds. Raises ``RegistryUnavailableError`` when the registry
        cannot serve this (a write without a writable connection, anything without one)."""
        if not self._writable and time.monotonic() >= self._next_open:
            try:
                db = _open_writable(self.path)
            except RegistryUnavailableError as error:
                self._fall_back(str(error))
            else:
                if self._db is not None:
                    self._db.close()
                self._db, self._writable = db, True
                self._worked()
        if self._db is None or (write and not self._writable):
            raise RegistryUnavailableError(self._problem or f"{DATABASE_NAME} is closed")
        return self._db

    def _fall_back(self, problem: str) -> None:
        """No writable connection (``problem`` says why): a read-only copy if there is none
        yet, and the next try in ``REOPEN_INTERVAL`` seconds."""
        self._failed(problem)
        self._next_open = time.monotonic() + REOPEN_INTERVAL
        if self._db is None:
            self._db = _open_read_only(self.path)

    def _failed(self, problem: str) -> None:
        if self._problem is None and self.tolerant:
            log.error(
                "device registry cannot be written; registrations are refused until it can",
                extra={"path": str(self.path), "error": problem},
            )
        self._problem = problem

    def _worked(self) -> None:
        if self._problem is not None and self.tolerant:
            log.warning("device registry writes again", extra={"path": str(self.path)})
        self._problem = None

    # ----------------------------------------------------------------------------------------
    # Operator side

    def upsert(self, devices: Iterable[Device]) -> int:
        """Add or update devices (one transaction); returns how many distinct devices were
        written (of several for one device, the last wins)."""
        latest = {device.key: device for device in devices}
        rows = [
            (d.manufacturer_id, d.terminal_model, d.terminal_id, d.phone or None, d.plate or None,
             d.plate_color, time.time())
            for d in latest.values()
        ]  # fmt: skip
        with self._writing() as db:
            db.executemany(
                """INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (manufacturer_id, terminal_model, terminal_id) DO UPDATE SET
                   phone = excluded.phone, plate = excluded.plate,
                   plate_color = excluded.plate_color""",
                rows,
            )
        return len(rows)

    def import_csv(self, lines: Iterable[str]) -> CsvImport:
        """Import devices from CSV with a header row (see ``parse_csv``) in one transaction."""
        return self.import_rows(parse_csv_rows(lines))

    def import_rows(self, rows: Iterable[tuple[int, Device]]) -> CsvImport:
        """Import the (line, device) rows of a CSV in one transaction."""
        first_line: dict[tuple[str, str, str], int] = {}
        repeated: list[tuple[int, int, str]] = []
        devices: list[Device] = []
        for line, device in rows:
            first = first_line.setdefault(device.key, line)
            if first != line:
                repeated.append((line, first, device.name))
            devices.append(device)
        return CsvImport(self.upsert(devices), repeated)

    def devices(self) -> list[Device]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT manufacturer_id, terminal_model, terminal_id, phone, plate, plate_color "
                "FROM devices ORDER BY manufacturer_id, terminal_model, terminal_id"
            ).fetchall()
        return [
            Device(m, model, t, phone or "", plate or "", color)
            for m, model, t, phone, plate, color in rows
        ]

    def get(self, name_or_key: str | tuple[str, str, str]) -> Device | None:
        key = self._resolve(name_or_key)
        return None if key is None else next((d for d in self.devices() if d.key == key), None)

    def delete(self, name_or_key: str | tuple[str, str, str]) -> bool:
        """Remove a device and every credential issued to it; False when it did not exist."""
        key = self._resolve(name_or_key)
        if key is None:
            return False
        with self._writing() as db:
            cursor = db.execute(
                "DELETE FROM devices WHERE manufacturer_id = ? AND terminal_model = ? "
                "AND terminal_id = ?",
                key,
            )
        return cursor.rowcount > 0

    def _resolve(self, name_or_key: str | tuple[str, str, str]) -> tuple[str, str, str] | None:
        if isinstance(name_or_key, tuple):
            return name_or_key
        for device in self.devices():
            if device.name == name_or_key:
                return device.key
        return None

    # ----------------------------------------------------------------------------------------
    # Terminal side (called by the local auth backend)

    def register(
        self, request: RegistrationRequest, *, reregistration: str = "explicit"
    ) -> RegistrationDecision:
        """Issue an auth code to a known device that holds none.

        Registration needs no secret, so it never takes a credential away: a device or phone
        that already holds a code gets result 3 (terminal already registered), and a plate
        whose vehicle another device holds a code for gets result 1 (vehicle already
        registered), until the holder logs out or an operator resets it (``reset``), or, with
        ``reregistration="offline"``, while neither the phone nor the device has a live session
        (the request says so).
        """
        key = (request.manufacturer_id, request.terminal_model, request.terminal_id)
        if not _is_text(*key):
            return RegistrationDecision(RegisterResult.TERMINAL_NOT_FOUND)
        with self._reading() as db:
            row = db.execute(
                "SELECT phone, plate FROM devices WHERE manufacturer_id = ? AND terminal_model = ? "
                "AND terminal_id = ?",
                key,
            ).fetchone()
        name = device_name_of(*key)
        if row is None:
            return RegistrationDecision(RegisterResult.TERMINAL_NOT_FOUND, device_name=name)
        pinned_phone, pinned_plate = row
        if pinned_phone and phone_key(pinned_phone) != phone_key(request.phone):
            # The device is bound to another SIM: someone else may be using its identity.
            return RegistrationDecision(
                RegisterResult.TERMINAL_ALREADY_REGISTERED, device_name=name
            )
        if pinned_plate and pinned_plate != request.plate:
            return RegistrationDecision(RegisterResult.VEHICLE_NOT_FOUND, device_name=name)
        phone = phone_key(request.phone)
        plate = request.plate if request.plate and _is_text(request.plate) else None
        replace = reregistration == "offline" and (
            request.phone_online_since is None and request.device_online_since is None
        )
        code = secrets.token_hex(AUTH_CODE_BYTES)
        with self._writing() as db:
            refused = _refusal(db, phone, key, plate, replace=replace)
            if refused is not None:
                return RegistrationDecision(refused, device_name=name)
            db.execute(
                "DELETE FROM credentials WHERE phone = ? OR (manufacturer_id = ? AND "
                "terminal_model = ? AND terminal_id = ?)",
                (phone, *key),
            )
            db.execute(
                "INSERT INTO credentials (phone, manufacturer_id, terminal_model, terminal_id, "
                "code_sha256, issued_at, plate) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (phone, *key, _digest(code), time.time(), plate),
            )
        return RegistrationDecision(RegisterResult.SUCCESS, auth_code=code, device_name=name)

    def reset(self, name_or_key: str | tuple[str, str, str]) -> bool:
        """Revoke every auth code of a device, so that it may register again (an operator's
        act, e.g. after a factory reset); False when there is no such device."""
        key = self._resolve(name_or_key)
        if key is None:
            return False
        with self._writing() as db:
            db.execute(
                "DELETE FROM credentials WHERE manufacturer_id = ? AND terminal_model = ? "
                "AND terminal_id = ?",
                key,
            )
        return True

    def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        """Accept the code bound to this phone (compared in constant time)."""
        with self._reading() as db:
            row = db.execute(
                "SELECT manufacturer_id, terminal_model, terminal_id, code_sha256 "
                "FROM credentials WHERE phone = ?",
                (phone_key(request.phone),),
            ).fetchone()
        if row is None:
            return AuthenticationDecision(False)
        manufacturer_id, terminal_model, terminal_id, stored = row
        if not hmac.compare_digest(stored, _digest(request.auth_code)):
            return AuthenticationDecision(False)
        return AuthenticationDecision(
            True, device_name_of(manufacturer_id, terminal_model, terminal_id)
        )

    def logout(self, phone: str) -> bool:
        """Revoke the code bound to ``phone``; False when there was none."""
        with self._writing() as db:
            cursor = db.execute("DELETE FROM credentials WHERE phone = ?", (phone_key(phone),))
        return cursor.rowcount > 0

    def device_name_for_phone(self, phone: str) -> str:
        with self._reading() as db:
            row = db.execute(
                "SELECT manufacturer_id, terminal_model, terminal_id FROM credentials "
                "WHERE phone = ?",
                (phone_key(phone),),
            ).fetchone()
        return "" if row is None else device_name_of(*row)


#: CSV columns: the first three are required, the rest optional.
CSV_COLUMNS: Final = (
    "manufacturer_id",
    "terminal_model",
    "terminal_id",
    "phone",
    "plate",
    "plate_color",
)


def parse_csv(lines: Iterable[str]) -> Iterator[Device]:
    """Devices from CSV with a header row naming ``CSV_COLUMNS`` (order free, extra columns
    refused so that a typo is not silently ignored)."""
    return (device for _, device in parse_csv_rows(lines))


def parse_csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, Device]]:
    """``parse_csv`` with the line each device ends on."""
    import csv  # noqa: PLC0415 (lazy: only `jt808 devices import` reads CSV, not serve)

    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        named = ", ".join(shown(name, quoted=False) for name in unknown[:3])
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise DeviceImportError(f"line 1: unknown column(s) {named}{more}; "
                                f"expected some of {', '.join(CSV_COLUMNS)}")  # fmt: skip
    missing = [name for name in CSV_COLUMNS[:3] if name not in header]
    if missing:
        raise DeviceImportError(f"line 1: missing required column(s) {', '.join(missing)}")
    for row in reader:
        line = reader.line_num
        if None in row:  # DictReader files values beyond the header under None
            raise DeviceImportError(
                f"line {line}: more values than columns (quote values that contain commas)"
            )
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        color_text = values.get("plate_color", "")
        try:
            color = int(color_text) if color_text else None
        except ValueError:
            raise DeviceImportError(
                f"line {line}: plate_color {shown(color_text)} is not a number"
            ) from None
        yield (
            line,
            checked_device(
                f"line {line}: ",
                manufacturer_id=values.get("manufacturer_id", ""),
                terminal_model=values.get("terminal_model", ""),
                terminal_id=values.get("terminal_id", ""),
                phone=values.get("phone", ""),
                plate=values.get("plate", ""),
                plate_color=color,
            ),
        )


def checked_device(
    where: str,
    *,
    manufacturer_id: str,
    terminal_model: str,
    terminal_id: str,
    phone: str = "",
    plate: str = "",
    plate_color: int | None = None,
) -> Device:
    """A device from operator input (a CSV row, an API message), values stripped; a
    ``DeviceImportError`` names ``where`` (``"line 4: "``, ``"devices[2]."``) and the field."""
    identity = (manufacturer_id.strip(), terminal_model.strip(), terminal_id.strip())
    for name, value in zip(CSV_COLUMNS[:3], identity, strict=True):
        if not value:
            raise DeviceImportError(f"{where}{name} is empty")
    phone = phone.strip()
    # isascii: str.isdigit also accepts digits of other scripts, which no BCD phone matches.
    if phone and not (phone.isascii() and phone.isdigit()):
        raise DeviceImportError(f"{where}phone {shown(phone)} is not digits")
    if plate_color is not None and not 0 <= plate_color <= 255:
        raise DeviceImportError(f"{where}plate_color {plate_color} is outside 0..255")
    return Device(*identity, phone, plate.strip(), plate_color)


def csv_lines(source: BinaryIO, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a CSV file as text, decoded one at a time so that a line that is not
    ``encoding`` text is named (``CsvEncodingError``); a UTF-8 byte order mark is skipped.
    ``encoding`` is one whose line breaks are single bytes (UTF-8, GB 18030)."""
    label = {"utf-8": "UTF-8", TEXT_ENCODING: "GB 18030"}.get(encoding, encoding)
    for number, raw in enumerate(source, start=1):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise CsvEncodingError(
                f"line {number}: not {label} text (byte 0x{raw[error.start]:02X} at byte "
                f"{error.start + 1} of the line)"
            ) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def read_csv_rows(path: Path, encoding: str = "utf-8") -> list[tuple[int, Device]]:
    """The (line, device) rows of a CSV file (``parse_csv_rows`` of ``csv_lines``):
    ``CsvFileError`` when the file cannot be read, ``DeviceImportError`` for what it holds."""
    try:
        with path.open("rb") as source:
            return list(parse_csv_rows(csv_lines(source, encoding)))
    except FileNotFoundError:
        raise CsvFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise CsvFileError(f"{path} is a directory, not a CSV file") from None
    except OSError as error:
        raise CsvFileError(f"cannot read {path}: {error.strerror or error}") from None


def _open_writable(path: Path) -> sqlite3.Connection:
    """A read-write connection to the registry at ``path``, its schema up to date."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RegistryUnavailableError(
            _directory_problem(error),
            passing=not isinstance(error, FileExistsError | NotADirectoryError),
        ) from None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as error:
        raise _unavailable(path, error) from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # an issued code survives a power cut
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        # A registry made before credentials kept their plate gets the column (empty).
        if "plate" not in {row[1] for row in db.execute("PRAGMA table_info(credentials)")}:
            db.execute("ALTER TABLE credentials ADD COLUMN plate TEXT")
    except sqlite3.Error as error:
        db.close()
        raise _unavailable(path, error) from None
    return db


def _open_read_only(path: Path) -> sqlite3.Connection | None:
    """A read-only copy for a registry that cannot be opened for writing (a full or read-only
    disk, where SQLite cannot even make its shared-memory file), or None.

    Opened ``immutable``: it reads the database file alone, without locks or the WAL. So only
    when the WAL holds nothing (absent or empty), else it would miss committed changes, an
    auth code revoked among them. Writes on it fail (SQLITE_READONLY)."""
    wal = path.with_name(path.name + "-wal")
    try:
        if not path.is_file() or (wal.exists() and wal.stat().st_size > 0):
            return None
        db = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True,
                             check_same_thread=False, isolation_level=None)  # fmt: skip
    except (OSError, sqlite3.Error):
        return None
    try:
        db.execute("SELECT plate FROM credentials LIMIT 0")
        db.execute("SELECT 1 FROM devices LIMIT 0")
    except sqlite3.Error:
        db.close()
        return None
    return db


def _unavailable(path: Path, error: sqlite3.Error) -> RegistryUnavailableError:
    """The error for a registry that cannot be opened: passing unless the file is no database
    (or no file)."""
    name = getattr(error, "sqlite_errorname", "")
    settings = name == "SQLITE_NOTADB" or (name == "SQLITE_CANTOPEN" and path.is_dir())
    return RegistryUnavailableError(_database_problem(error), passing=not settings)


def _refusal(
    db: sqlite3.Connection,
    phone: str,
    key: tuple[str, str, str],
    plate: str | None,
    *,
    replace: bool,
) -> RegisterResult | None:
    """Why a registration may not issue a code now (inside its transaction), or None."""
    if not replace:
        held = db.execute(
            "SELECT 1 FROM credentials WHERE phone = ? OR (manufacturer_id = ? AND "
            "terminal_model = ? AND terminal_id = ?) LIMIT 1",
            (phone, *key),
        ).fetchone()
        if held is not None:
            return RegisterResult.TERMINAL_ALREADY_REGISTERED
    if plate is not None:
        vehicle = db.execute(
            "SELECT 1 FROM credentials WHERE plate = ? AND phone != ? AND NOT "
            "(manufacturer_id = ? AND terminal_model = ? AND terminal_id = ?) LIMIT 1",
            (plate, phone, *key),
        ).fetchone()
        if vehicle is not None:
            return RegisterResult.VEHICLE_ALREADY_REGISTERED
    return None


def _directory_problem(error: OSError) -> str:
    if isinstance(error, FileExistsError):
        return "it is a file, not a directory"
    if isinstance(error, NotADirectoryError):
        return "part of its path is a file, not a directory"
    return error.strerror or str(error)


def _database_problem(error: sqlite3.Error) -> str:
    name = getattr(error, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return f"{DATABASE_NAME} in it is not an SQLite database"
    if name == "SQLITE_CANTOPEN":
        return f"{DATABASE_NAME} in it cannot be opened (is it a directory, or read-only?)"
    if name == "SQLITE_READONLY":
        return f"{DATABASE_NAME} in it is read-only"
    if name == "SQLITE_IOERR_SHMSIZE":
        return f"{DATABASE_NAME}: no room for its shared-memory file (is the disk full?)"
    return f"{DATABASE_NAME}: {error}"
