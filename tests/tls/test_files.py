"""Certificate, key and CA files: what loads, and one sentence naming the setting for each
problem (``jt808 serve`` prints it and exits 2)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from clients.pki import CertificateAuthority, certificate_pem, key_pem
from gateway.tls.context import ServerTlsFiles, load_server_tls
from gateway.tls.files import TlsFilesError, load_ca_bundle, load_key_pair

from .pki import TestPki


def load(cert: Path, key: Path, client_ca: Path | None = None) -> None:
    load_server_tls(ServerTlsFiles(cert, key, client_ca))


def problem(cert: Path, key: Path, client_ca: Path | None = None) -> str:
    with pytest.raises(TlsFilesError) as caught:
        load(cert, key, client_ca)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("name", ["server", "server_rsa"])
def test_a_chain_file_with_an_ecdsa_or_rsa_key_loads(pki: TestPki, name: str) -> None:
    files = pki.files[name]
    loaded = load_server_tls(ServerTlsFiles(files.cert, files.key, pki.root_pem))
    assert len(loaded.key_pair.certificates) == 2  # leaf and intermediate
    assert loaded.mutual and loaded.client_ca is not None
    assert loaded.client_ca.certificates == (pki.root.certificate,)


def test_missing_files_name_the_setting(pki: TestPki, tmp_path: Path) -> None:
    files = pki.files["server"]
    nowhere = tmp_path / "nowhere.pem"
    assert problem(nowhere, files.key) == f"--tls-cert: {nowhere} does not exist"
    assert problem(files.cert, nowhere) == f"--tls-key: {nowhere} does not exist"
    assert problem(files.cert, files.key, nowhere) == f"--tls-client-ca: {nowhere} does not exist"
    assert problem(tmp_path, files.key).startswith(f"--tls-cert: {tmp_path} is a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_key_says_permission_denied(pki: TestPki, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(pki.files["server"].key.read_bytes())
    key.chmod(0)
    assert "permission denied" in problem(pki.files["server"].cert, key)


def test_files_without_pem_or_with_garbage(pki: TestPki, tmp_path: Path) -> None:
    files = pki.files["server"]
    text = tmp_path / "text.pem"
    text.write_text("hello\n")
    assert problem(text, files.key) == f"--tls-cert: {text} holds no PEM certificate"
    assert problem(files.cert, text) == f"--tls-key: {text} holds no PEM private key"
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert "cannot be parsed" in problem(broken, files.key)


def test_a_key_of_another_certificate_is_refused(pki: TestPki) -> None:
    message = problem(pki.files["server"].cert, pki.files["server_rsa"].key)
    assert message.startswith(f"--tls-key: {pki.files['server_rsa'].key} is not the key of")
    assert "--tls-cert" in message


def test_a_chain_with_the_intermediate_first_is_refused(pki: TestPki, tmp_path: Path) -> None:
    issued = pki.issued["server"]
    reversed_chain = tmp_path / "reversed.pem"
    reversed_chain.write_bytes(certificate_pem(*issued.chain, issued.certificate))
    assert "the leaf certificate must come first" in problem(
        reversed_chain, pki.files["server"].key
    )


def test_encrypted_weak_and_unsupported_keys_are_refused(pki: TestPki, tmp_path: Path) -> None:
    cert = pki.files["server"].cert
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        pki.issued["server"].key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    assert "passphrase" in problem(cert, encrypted)
    weak = tmp_path / "weak.key"
    weak.write_bytes(key_pem(rsa.generate_private_key(65537, 1024)))
    assert "1024-bit RSA key; at least 2048" in problem(cert, weak)
    edwards = tmp_path / "ed25519.key"
    edwards.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert "Ed25519 key; use RSA" in problem(cert, edwards)


def test_an_expired_or_future_server_certificate_is_refused(tmp_path: Path) -> None:
    ca = CertificateAuthority.root()
    now = datetime.now(UTC)
    old = ca.issue_client("old", not_before=now - timedelta(days=10), not_after=now - timedelta(1))
    cert, key = old.write(tmp_path, "old")
    with pytest.raises(TlsFilesError, match=r"^--tls-cert: the certificate in .* expired on "):
        load_key_pair(cert, key, cert_setting="--tls-cert", key_setting="--tls-key")
    future = ca.issue_client("future", not_before=now + timedelta(days=1))
    cert, key = future.write(tmp_path, "future")
    with pytest.raises(TlsFilesError, match=r"not valid before .* \(check this machine's clock\)$"):
        load_key_pair(cert, key, cert_setting="--tls-cert", key_setting="--tls-key")


def test_the_control_plane_settings_are_named_the_same_way(pki: TestPki, tmp_path: Path) -> None:
    nowhere = tmp_path / "ca.pem"
    with pytest.raises(TlsFilesError, match=r"^--grpc-tls-client-ca: .* does not exist$"):
        load_ca_bundle(nowhere, "--grpc-tls-client-ca")
