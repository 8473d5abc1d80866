"""Message bodies: the ``Body`` base, the id → body registry, and bodies with no declared layout."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, ClassVar, TypeVar

from .ids import MessageId
from .versions import V2011, ProtocolVersion
from .wire import Bytes, Layout, Reader

B = TypeVar("B", bound="type[Body]")


class Body(Layout):
    """A message body. ``MSG_ID`` is its id; ``SINCE`` the first revision that defines it."""

    __slots__ = ()
    MSG_ID: ClassVar[int]
    SINCE: ClassVar[ProtocolVersion] = V2011

    @property
    def msg_id(self) -> int:
        return self.MSG_ID

    @classmethod
    def decode_prefix(cls, data: bytes, version: ProtocolVersion) -> tuple[Body, int]:
        """Decode the layout from the start of ``data``; returns it and the bytes it used.

        Hot bodies override this to skip the generic plan machinery.
        """
        r = Reader(data, version)
        body = cls.read(r)
        return body, r.pos


Decoder = Callable[[bytes, ProtocolVersion], tuple[Body, int]]

_REGISTRY: dict[int, type[Body]] = {}
#: msg_id -> the bound ``decode_prefix`` of its body class (one dict lookup on the hot path).
_DECODERS: dict[int, Decoder] = {}
#: msg_id -> the module that registers its body, for bodies imported on first use (see
#: ``register_lazy``); an id stays here after its module is imported.
_LAZY: dict[int, str] = {}


def register(msg_id: MessageId, *, since: ProtocolVersion = V2011) -> Callable[[B], B]:
    """Class decorator: bind a body layout to its message id (each id once)."""

    def bind(cls: B) -> B:
        if msg_id in _REGISTRY:
            raise ValueError(f"0x{msg_id:04X} is already bound to {_REGISTRY[msg_id].__name__}")
        cls.MSG_ID = int(msg_id)
        cls.SINCE = since
        _REGISTRY[msg_id] = cls
        _DECODERS[msg_id] = cls.decode_prefix
        return cls

    return bind


def register_lazy(module: str, msg_ids: Iterable[int]) -> None:
    """``module`` registers the bodies of ``msg_ids`` when imported: import it only when one of
    them is first decoded or looked up. Until then each id decodes through a stand-in that
    imports the module (which replaces the stand-in) and decodes with the real decoder.

    Why: a gateway needs these bodies only for the commands and answers it actually exchanges;
    importing them all at start-up cost every idle gateway about 1 MiB of resident memory."""
    for msg_id in msg_ids:
        if msg_id in _REGISTRY or msg_id in _LAZY:
            raise ValueError(f"0x{msg_id:04X} is already bound")
        _LAZY[msg_id] = module
        _DECODERS[msg_id] = _stand_in(msg_id)


def _stand_in(msg_id: int) -> Decoder:
    def decode(data: bytes, version: ProtocolVersion) -> tuple[Body, int]:
        _load(msg_id)
        decoder = _DECODERS[msg_id]
        if decoder is decode:  # the table of register_lazy is wrong: fail, never recurse
            raise LookupError(f"{_LAZY[msg_id]} does not register 0x{msg_id:04X}")
        return decoder(data, version)

    return decode


def _load(msg_id: int) -> None:
    if msg_id not in _REGISTRY and msg_id in _LAZY:
        importlib.import_module(_LAZY[msg_id])


def body_class(msg_id: int) -> type[Body] | None:
    """The body layout of ``msg_id``, or ``None`` for an id the core does not know."""
    _load(msg_id)
    return _REGISTRY.get(msg_id)


def set_decoder(msg_id: int, decoder: Decoder) -> None:
    """Give a registered id a hand-written decoder (the hottest bodies skip a call layer)."""
    if msg_id not in _REGISTRY:
        raise KeyError(f"0x{msg_id:04X} is not registered")
    _DECODERS[msg_id] = decoder


def known_ids() -> list[int]:
    for module in sorted(set(_LAZY.values())):
        importlib.import_module(module)
    return sorted(_REGISTRY)


@dataclass(slots=True, kw_only=True)
class RawBody(Body):
    """The body of a message id the core does not know (or cannot decrypt), kept byte for byte."""

    MSG_ID: ClassVar[int] = -1
    raw: Annotated[bytes, Bytes()] = b""


@dataclass(slots=True, kw_only=True)
class Fragment(Body):
    """One packet of a sub-packaged message: a slice of the body, decoded after reassembly."""

    MSG_ID: ClassVar[int] = -1
    data: Annotated[bytes, Bytes()] = b""


def decode_body(msg_id: int, data: bytes, version: ProtocolVersion) -> tuple[Body, bytes]:
    """Decode a whole body; returns the body and any bytes after its layout (kept, not lost).

    An unknown id gives ``RawBody``; a malformed body raises ``BodyError`` with the offset.
    """
    decoder = _DECODERS.get(msg_id)
    if decoder is None:
        return RawBody(raw=data), b""
    body, used = decoder(data, version)
    return body, data[used:] if used < len(data) else b""
