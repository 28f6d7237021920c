"""Certificates and keys for the local control plane, generated per run folder.

One CA signs the kube-apiserver's serving certificate (for 127.0.0.1 / localhost /
kubernetes.default.svc) and the client certificates of the admin and the built-in
components; a separate RSA key pair signs ServiceAccount tokens. The launcher
(`cluster.py`) calls `generate_pki` once per run folder; webhooks registered by later
components can be served with `issue_serving_cert` under the same CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPKI:
    ca: CertPair
    apiserver: CertPair
    admin: CertPair
    controller_manager: CertPair
    scheduler: CertPair
    kwok: CertPair
    service_account_key: Path
    service_account_pub: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _load_ca(ca: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _make_ca(folder: Path) -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name("flotilla-dev-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pair = CertPair(folder / "ca.crt", folder / "ca.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def _issue(
    ca: CertPair,
    folder: Path,
    stem: str,
    subject: x509.Name,
    *,
    server_names: tuple[str, ...] = (),
    client: bool = False,
) -> CertPair:
    ca_cert, ca_key = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    if server_names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        alt_names: list[x509.GeneralName] = []
        for name in server_names:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt_names.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pair = CertPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def make_ca(folder: Path) -> CertPair:
    """A fresh CA (``ca.crt``, ``ca.key``) in `folder`, e.g. for a TLS test's NATS server."""
    folder.mkdir(parents=True, exist_ok=True)
    return _make_ca(folder)


def issue_client_cert(
    ca: CertPair, folder: Path, stem: str, common_name: str, organization: str | None = None
) -> CertPair:
    """A client certificate signed by `ca` (e.g. a component signing in to NATS over TLS, or a
    kubelet as ``system:node:<name>`` in organization ``system:nodes``)."""
    folder.mkdir(parents=True, exist_ok=True)
    return _issue(ca, folder, stem, _name(common_name, organization), client=True)


def issue_serving_cert(ca: CertPair, folder: Path, stem: str, names: tuple[str, ...]) -> CertPair:
    """A serving certificate for `names` (DNS names or IPs), e.g. for a webhook server."""
    folder.mkdir(parents=True, exist_ok=True)
    return _issue(ca, folder, stem, _name(names[0]), server_names=names)


def generate_pki(folder: Path) -> ClusterPKI:
    """Create every certificate and key the control plane needs in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(folder)
    apiserver = _issue(
        ca,
        folder,
        "apiserver",
        _name("kube-apiserver"),
        server_names=(
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
    )
    admin = _issue(ca, folder, "admin", _name("flotilla-admin", "system:masters"), client=True)
    kcm = _issue(ca, folder, "controller-manager", _name("system:kube-controller-manager"), client=True)
    scheduler = _issue(ca, folder, "scheduler", _name("system:kube-scheduler"), client=True)
    kwok = _issue(ca, folder, "kwok", _name("kwok-controller", "system:masters"), client=True)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_key_path = folder / "sa.key"
    _write_key(sa_key_path, sa_key)
    sa_pub_path = folder / "sa.pub"
    sa_pub_path.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return ClusterPKI(ca, apiserver, admin, kcm, scheduler, kwok, sa_key_path, sa_pub_path)
