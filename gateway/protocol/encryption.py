"""RSA body encryption of JT/T 808 (body properties bits 10-12 = 001; keys in 0x8A00/0x0A00).

The standard says only that a body with bit 10 set "is RSA-encrypted" and that each side sends
its public key ``{e, n}`` with a 1024-bit ``n`` (0x8A00 the platform's, 0x0A00 the
terminal's). What we do where it is silent (docs/decisions.md, "RSA body encryption"):

* each side encrypts with the *other* side's public key: a terminal's uplinks with the
  platform's key, the platform's downlinks with the terminal's key;
* PKCS#1 v1.5 padding, the body cut into blocks of at most 117 bytes, each encrypted to one
  128-byte block, the blocks concatenated (what ``Cipher.getInstance("RSA")`` in Java and the
  devices built on it do); the body length field counts the encrypted bytes;
* a message is encrypted whole and the ciphertext is then split into packets like any long
  body (sub-package reassembly happens before decryption);
* an empty body (0x8201, 0x8104, ...) is sent in clear: there is nothing to hide.

Decryption checks the PKCS#1 v1.5 padding explicitly, so that a body encrypted with another key
(or damaged) is answered 0x8001 result 2 instead of decoding as garbage. ``cryptography``
deliberately hides padding failures (implicit rejection: a wrong key yields random bytes), so
the RSA step itself is the textbook CRT exponentiation on the key's own numbers, and the
padding check is ours. A padding check that answers differently is a Bleichenbacher oracle:
the session only decrypts for authenticated terminals (docs/decisions.md).

Nothing here does I/O: ``cryptography`` computes, randomness for the padding comes from it.
It is imported on first use, not with this module: the session imports this module, and a
gateway whose terminals never encrypt does not load ``cryptography`` at all. A deferred key
pair (``RsaKeyPair.deferred``) is read or made the first time it is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .bodies.passthrough import PlatformRsaKey, TerminalRsaKey
from .errors import BodyError, ResultCode

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

#: The modulus of a JT/T 808 RSA key: 1024 bits, sent as 128 big-endian bytes.
MODULUS_BYTES: Final = 128
#: PKCS#1 v1.5 takes at most k - 11 bytes per block.
PLAIN_BLOCK: Final = MODULUS_BYTES - 11
#: A body is at most 4 MiB after reassembly; more ciphertext than that is refused unread.
MAX_CIPHERTEXT: Final = 4 * 1024 * 1024


class DecryptionError(BodyError):
    """An encrypted body that cannot be decrypted (wrong key, damaged, not whole blocks).

    Answered with 0x8001 result 2 (message error): the frame was intact, its body is not."""

    result_code = ResultCode.MESSAGE_ERROR


class RsaKeyError(BodyError):
    """A 0x8A00/0x0A00 key that is not a usable 1024-bit RSA public key."""


@dataclass(frozen=True, slots=True)
class RsaPublicKey:
    """A peer's public key ``{e, n}`` as 0x8A00/0x0A00 carry it."""

    exponent: int
    modulus: bytes

    @classmethod
    def of(cls, body: PlatformRsaKey | TerminalRsaKey) -> RsaPublicKey:
        """The key of a 0x8A00/0x0A00 body; ``RsaKeyError`` when it cannot encrypt."""
        key = cls(body.exponent, body.modulus)
        key.crypto_key()  # validates
        return key

    def crypto_key(self) -> rsa.RSAPublicKey:
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415 - see above

        n = int.from_bytes(self.modulus, "big")
        if len(self.modulus) != MODULUS_BYTES or n.bit_length() != MODULUS_BYTES * 8:
            raise RsaKeyError(
                f"the RSA modulus is {n.bit_length()} bits; JT/T 808 keys are 1024 bits"
            )
        if self.exponent < 3 or self.exponent % 2 == 0:
            raise RsaKeyError(f"the RSA exponent {self.exponent} is not an odd number >= 3")
        try:
            return rsa.RSAPublicNumbers(self.exponent, n).public_key()
        except ValueError as error:
            raise RsaKeyError(f"not a usable RSA public key: {error}") from None

    def encrypt(self, data: bytes) -> bytes:
        """``data`` encrypted for the holder of this key (blocks of 117 → 128 bytes)."""
        from cryptography.hazmat.primitives.asymmetric import padding  # noqa: PLC0415

        key = self.crypto_key()
        pkcs1 = padding.PKCS1v15()
        return b"".join(
            key.encrypt(data[start : start + PLAIN_BLOCK], pkcs1)
            for start in range(0, len(data), PLAIN_BLOCK)
        )


@dataclass(frozen=True, slots=True)
class _PrivateKey:
    """A loaded 1024-bit private key, its numbers (for the CRT step) and its public half."""

    key: rsa.RSAPrivateKey
    numbers: rsa.RSAPrivateNumbers
    public: RsaPublicKey

    @classmethod
    def of(cls, key: rsa.RSAPrivateKey) -> _PrivateKey:
        if key.key_size != MODULUS_BYTES * 8:
            raise RsaKeyError(
                f"a {key.key_size}-bit RSA key cannot go in 0x8A00/0x0A00, which carry "
                "a 1024-bit modulus"
            )
        numbers = key.private_numbers()
        public = numbers.public_numbers
        return cls(key, numbers, RsaPublicKey(public.e, public.n.to_bytes(MODULUS_BYTES, "big")))


class RsaKeyPair:
    """One side's 1024-bit key pair: its public half goes out in 0x8A00 (or 0x0A00), its
    private half decrypts what the other side encrypted with it."""

    __slots__ = ("_load", "_loaded")

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._load: Callable[[], RsaKeyPair] | None = None
        self._loaded: _PrivateKey | None = _PrivateKey.of(private_key)

    @classmethod
    def deferred(cls, load: Callable[[], RsaKeyPair]) -> RsaKeyPair:
        """A key pair that ``load`` reads or makes the first time it is used (once): the
        platform key of a gateway whose terminals may never ask for it."""
        pair = cls.__new__(cls)
        pair._load = load
        pair._loaded = None
        return pair

    def _key(self) -> _PrivateKey:
        loaded = self._loaded
        if loaded is None:
            load = self._load
            assert load is not None
            loaded = self._loaded = load()._key()
            self._load = None
        return loaded

    @property
    def public(self) -> RsaPublicKey:
        return self._key().public

    @classmethod
    def generate(cls) -> RsaKeyPair:
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415 - see above

        return cls(rsa.generate_private_key(public_exponent=65537, key_size=MODULUS_BYTES * 8))

    @classmethod
    def from_pem(cls, data: bytes) -> RsaKeyPair:
        """A key pair from PEM (PKCS#8 or PKCS#1, unencrypted); ``RsaKeyError`` otherwise."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise RsaKeyError(f"not an unencrypted PEM private key ({error})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise RsaKeyError(f"a {type(key).__name__} is not an RSA key")
        return cls(key)

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        return self._key().key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def platform_body(self) -> PlatformRsaKey:
        """The 0x8A00 body announcing this public key."""
        return PlatformRsaKey(exponent=self.public.exponent, modulus=self.public.modulus)

    def terminal_body(self) -> TerminalRsaKey:
        """The 0x0A00 body announcing this public key."""
        return TerminalRsaKey(exponent=self.public.exponent, modulus=self.public.modulus)

    def decrypt(self, data: bytes) -> bytes:
        """The plain body of an encrypted one; ``DecryptionError`` when it is not one. An empty
        body stays empty (there is nothing to encrypt; senders leave the flag off for it)."""
        if len(data) % MODULUS_BYTES:
            raise DecryptionError(
                f"an encrypted body of {len(data)} bytes is not whole {MODULUS_BYTES}-byte blocks"
            )
        if len(data) > MAX_CIPHERTEXT:
            raise DecryptionError(f"an encrypted body of {len(data)} bytes is too large")
        out = bytearray()
        for start in range(0, len(data), MODULUS_BYTES):
            block = self._unpad(self._rsa(data[start : start + MODULUS_BYTES]))
            if block is None:
                raise DecryptionError(
                    f"block {start // MODULUS_BYTES + 1} of the encrypted body does not decrypt "
                    "with this side's key"
                )
            out += block
        return bytes(out)

    def _rsa(self, block: bytes) -> bytes:
        """c^d mod n by the Chinese remainder theorem (RFC 8017 §5.1.2)."""
        k = self._key().numbers
        c = int.from_bytes(block, "big")
        if c >= k.public_numbers.n:
            return b""
        m1 = pow(c, k.dmp1, k.p)
        m2 = pow(c, k.dmq1, k.q)
        m = m2 + k.q * ((k.iqmp * (m1 - m2)) % k.p)
        return m.to_bytes(MODULUS_BYTES, "big")

    @staticmethod
    def _unpad(encoded: bytes) -> bytes | None:
        """The message of an EME-PKCS1-v1_5 block 00 02 PS 00 M (PS: 8+ non-zero bytes)."""
        if len(encoded) != MODULUS_BYTES or encoded[0] != 0 or encoded[1] != 2:
            return None
        separator = encoded.find(0, 2)
        if separator < 10:
            return None
        return encoded[separator + 1 :]

    def __repr__(self) -> str:  # the private key never shows
        if self._loaded is None:
            return "RsaKeyPair(not loaded yet)"
        public = self._loaded.public
        return f"RsaKeyPair(e={public.exponent}, n=0x{public.modulus[:4].hex()}...)"


__all__ = [
    "MODULUS_BYTES",
    "PLAIN_BLOCK",
    "DecryptionError",
    "RsaKeyError",
    "RsaKeyPair",
    "RsaPublicKey",
]
