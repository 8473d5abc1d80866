"""Pass-through, compression and RSA keys: 0x8900/0x0900 data pass-through, 0x0901 compressed
upload, 0x8A00/0x0A00 RSA public keys (JT/T 808-2019 §8.64-§8.68, tables 82-87).

The 2011 draft's extra length fields in 0x8900/0x0900 are not supported (no implementation uses
them); every revision has the 2013 layouts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Final

from ..body import Body, register
from ..errors import BodyError
from ..ids import MessageId
from ..wire import U32, Bytes, DWord, FixedBytes
from .multimedia import Code


class PassthroughType(IntEnum):
    """Pass-through types of the standard; 0xF0-0xFF are user-defined (kept as plain ints)."""

    GNSS_DETAIL = 0x00  # detailed GNSS positioning data
    IC_CARD = 0x0B  # road-transport IC card: 64 bytes up, 24 bytes down
    SERIAL_PORT_1 = 0x41
    SERIAL_PORT_2 = 0x42


PASSTHROUGH_TYPE: Final = Code(1, PassthroughType)


@dataclass(slots=True, kw_only=True)
class _Passthrough(Body):
    type: Annotated[int, PASSTHROUGH_TYPE]
    data: Annotated[bytes, Bytes()] = b""


@register(MessageId.DOWNLINK_PASSTHROUGH)
@dataclass(slots=True, kw_only=True)
class DownlinkPassthrough(_Passthrough):
    """0x8900: opaque ``data`` of pass-through ``type`` for the terminal (JSON: ``type`` an
    int, ``data`` hex). Answered with 0x0001 (inferred: the standard names no reply)."""


@register(MessageId.UPLINK_PASSTHROUGH)
@dataclass(slots=True, kw_only=True)
class UplinkPassthrough(_Passthrough):
    """0x0900: opaque ``data`` of pass-through ``type`` from the terminal (JSON: ``type`` an
    int, ``data`` hex). Answered with 0x8001."""


#: Default bound of ``CompressedUpload.decompress`` (1 MiB); pass another where needed.
MAX_DECOMPRESSED_SIZE: Final = 1 << 20


class DecompressionError(BodyError):
    """A 0x0901 payload is not valid GZIP, or inflates past the allowed size."""


@register(MessageId.COMPRESSED_UPLOAD)
@dataclass(slots=True, kw_only=True)
class CompressedUpload(Body):
    """0x0901: GZIP-compressed data with a DWORD length. Answered with 0x8001.

    The standard does not say whether the payload is a message body or a whole message, so
    ``data`` stays compressed; ``decompress`` inflates it within a size bound.
    """

    data: Annotated[bytes, Bytes(prefix=U32)]

    @classmethod
    def compress(cls, payload: bytes) -> CompressedUpload:
        """GZIP ``payload`` (with a zero timestamp, so the bytes are reproducible)."""
        import gzip  # noqa: PLC0415 (lazy: a terminal's side; the gateway only inflates)

        return cls(data=gzip.compress(payload, mtime=0))

    def decompress(self, max_size: int = MAX_DECOMPRESSED_SIZE) -> bytes:
        """The inflated payload (every GZIP member, concatenated).

        Never holds more than ``max_size`` + 1 inflated bytes: a payload that would inflate
        further, or that is not complete GZIP, raises ``DecompressionError``.
        """
        if max_size < 0:
            raise ValueError(f"max_size must not be negative, got {max_size}")
        out = bytearray()
        rest = self.data
        if not rest:
            raise DecompressionError("the compressed payload is empty")
        while rest:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # GZIP container only
            try:
                out += inflater.decompress(rest, max_size + 1 - len(out))
            except zlib.error as error:
                raise DecompressionError(f"the payload is not valid GZIP: {error}") from None
            if len(out) > max_size:
                raise DecompressionError(f"the payload inflates past {max_size} bytes")
            if not inflater.eof:
                raise DecompressionError("the GZIP payload ends before its end-of-stream marker")
            rest = inflater.unused_data
        return bytes(out)


@dataclass(slots=True, kw_only=True)
class _RsaKey(Body):
    exponent: DWord
    modulus: Annotated[bytes, FixedBytes(128)]

    @property
    def modulus_int(self) -> int:
        """The modulus n as an integer (it is sent big-endian)."""
        return int.from_bytes(self.modulus, "big")


@register(MessageId.PLATFORM_RSA_KEY)
@dataclass(slots=True, kw_only=True)
class PlatformRsaKey(_RsaKey):
    """0x8A00: the platform's RSA public key, ``exponent`` e and 1024-bit ``modulus`` n.
    The terminal answers with its own key (0x0A00)."""


@register(MessageId.TERMINAL_RSA_KEY)
@dataclass(slots=True, kw_only=True)
class TerminalRsaKey(_RsaKey):
    """0x0A00: the terminal's RSA public key, ``exponent`` e and 1024-bit ``modulus`` n.
    The platform answers with its own key (0x8A00)."""


__all__ = [
    "MAX_DECOMPRESSED_SIZE",
    "PASSTHROUGH_TYPE",
    "CompressedUpload",
    "DecompressionError",
    "DownlinkPassthrough",
    "PassthroughType",
    "PlatformRsaKey",
    "TerminalRsaKey",
    "UplinkPassthrough",
]
