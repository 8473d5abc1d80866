"""Certificate, key and CA bundle files, read and checked before any TLS stack sees them.

Every problem is one ``TlsFilesError`` sentence that names the setting (``--tls-cert``,
``--grpc-tls-key``, ...) and the file, so that ``jt808 serve`` can print it and exit 2: a missing
or unreadable file, no PEM in it, an encrypted or unsupported key, a key that does not belong to
the certificate, a certificate outside its validity period. The terminal listener and the
control plane share these checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.server.config import ConfigError

#: RSA keys below this size are refused (NIST SP 800-131A; every modern TLS stack agrees).
MIN_RSA_BITS: Final = 2048
#: Elliptic curves a TLS 1.2/1.3 client is sure to support.
CURVES: Final = {"secp256r1": "P-256", "secp384r1": "P-384"}
#: A PEM file larger than this is not a certificate bundle (refused before parsing).
MAX_PEM_BYTES: Final = 1 << 20

ServerKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class TlsFilesError(ConfigError):
    """A certificate, key or CA file cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate chain (leaf first) and the private key of its leaf, as read from disk."""

    chain_pem: bytes
    key_pem: bytes
    certificates: tuple[x509.Certificate, ...]
    key: ServerKey

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    def __repr__(self) -> str:  # the key is a secret
        return f"KeyPair(subject={self.leaf.subject.rfc4514_string()!r})"


@dataclass(frozen=True, slots=True)
class CaBundle:
    pem: bytes
    certificates: tuple[x509.Certificate, ...]


def file_signature(*paths: Path | None) -> tuple[tuple[int, int, int], ...]:
    """What changes when any of ``paths`` is replaced or rewritten (inode, size, mtime); a
    missing file counts as a change too. Cheap enough to poll every few seconds."""
    signature: list[tuple[int, int, int]] = []
    for path in paths:
        if path is None:
            continue
        try:
            st = os.stat(path)
        except OSError:
            signature.append((-1, -1, -1))
        else:
            signature.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(signature)


def read_pem(path: Path, setting: str, *, marker: bytes, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_PEM_BYTES:
            raise TlsFilesError(f"{setting}: {path} is {size} bytes, not a PEM {what} file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise TlsFilesError(f"{setting}: {path} does not exist") from None
    except IsADirectoryError:
        raise TlsFilesError(f"{setting}: {path} is a directory, not a PEM {what} file") from None
    except PermissionError:
        raise TlsFilesError(
            f"{setting}: {path} cannot be read by this user (permission denied)"
        ) from None
    except OSError as error:
        raise TlsFilesError(f"{setting}: {path} cannot be read: {error.strerror}") from None
    if marker not in data:
        raise TlsFilesError(f"{setting}: {path} holds no PEM {what}")
    return data


def load_certificates(path: Path, setting: str) -> tuple[bytes, tuple[x509.Certificate, ...]]:
    data = read_pem(path, setting, marker=b"-----BEGIN CERTIFICATE-----", what="certificate")
    try:
        certificates = tuple(x509.load_pem_x509_certificates(data))
    except ValueError as error:
        raise TlsFilesError(
            f"{setting}: {path} holds a certificate that cannot be parsed ({_short(error)})"
        ) from None
    return data, certificates


def load_private_key(path: Path, setting: str) -> tuple[bytes, ServerKey]:
    data = read_pem(path, setting, marker=b"PRIVATE KEY-----", what="private key")
    if b"ENCRYPTED" in data:
        raise TlsFilesError(
            f"{setting}: {path} is protected by a passphrase; give the gateway an unencrypted "
            "key file readable only by its user (chmod 600)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise TlsFilesError(
            f"{setting}: {path} holds a private key that cannot be read ({_short(error)})"
        ) from None
    except Exception as error:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise TlsFilesError(
            f"{setting}: {path} holds an unsupported private key ({_short(error)})"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise TlsFilesError(
                f"{setting}: {path} is a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} "
                "bits are needed"
            )
        return data, key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in CURVES:
            raise TlsFilesError(
                f"{setting}: {path} is an ECDSA key on {key.curve.name}; use P-256 or P-384"
            )
        return data, key
    raise TlsFilesError(
        f"{setting}: {path} is a {type(key).__name__.removesuffix('PrivateKey')} key; use RSA "
        f"({MIN_RSA_BITS}+ bits) or ECDSA P-256/P-384"
    )


def load_key_pair(
    cert_path: Path,
    key_path: Path,
    *,
    cert_setting: str,
    key_setting: str,
    now: datetime | None = None,
) -> KeyPair:
    """The chain in ``cert_path`` (leaf first, intermediates after) and the key of its leaf."""
    chain_pem, certificates = load_certificates(cert_path, cert_setting)
    key_pem, key = load_private_key(key_path, key_setting)
    leaf = certificates[0]
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise TlsFilesError(
            f"{key_setting}: {key_path} is not the key of the first certificate in "
            f"{cert_setting} {cert_path} (their public keys differ; the leaf certificate must "
            "come first in the file)"
        )
    check_validity(leaf, cert_setting, cert_path, now or datetime.now(UTC))
    return KeyPair(chain_pem, key_pem, certificates, key)


def load_ca_bundle(path: Path, setting: str) -> CaBundle:
    pem, certificates = load_certificates(path, setting)
    return CaBundle(pem, certificates)


def check_validity(certificate: x509.Certificate, setting: str, path: Path, now: datetime) -> None:
    if now > certificate.not_valid_after_utc:
        raise TlsFilesError(
            f"{setting}: the certificate in {path} expired on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now < certificate.not_valid_before_utc:
        raise TlsFilesError(
            f"{setting}: the certificate in {path} is not valid before "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check this machine's clock)"
        )


def _spki(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:  # pragma: no cover - every key type cryptography loads has one
        return b""
    data: bytes = public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
