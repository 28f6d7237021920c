"""Certificates and keys for the local control plane, generated per run folder.

One CA signs the kube-apiserver's serving certificate (for 127.0.0.1 / localhost /
kubernetes.default.svc) and the client certificates of the admin and the built-in
components; a separate RSA key pair signs ServiceAccount tokens. The launcher
(`cluster.py`) calls `generate_pki` once per run folder; webhooks registered by later
components can be served with `issue_serving_cert` under the same CA.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from flotilla.runtime import x509certs

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


def _load_ca(ca: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _make_ca(folder: Path) -> CertPair:
    key = x509certs.new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = x509certs.self_signed_ca(key, x509certs.subject("flotilla-dev-ca"), now, _VALIDITY)
    pair = CertPair(folder / "ca.crt", folder / "ca.key")
    pair.cert.write_bytes(x509certs.cert_pem(cert))
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
    key = x509certs.new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = x509certs.signed_leaf(
        ca_cert, ca_key, key, subject, now, now + _VALIDITY, server_names=server_names, client=client
    )
    pair = CertPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(x509certs.cert_pem(cert))
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
    return _issue(ca, folder, stem, x509certs.subject(common_name, organization), client=True)


def issue_serving_cert(ca: CertPair, folder: Path, stem: str, names: tuple[str, ...]) -> CertPair:
    """A serving certificate for `names` (DNS names or IPs), e.g. for a webhook server."""
    folder.mkdir(parents=True, exist_ok=True)
    return _issue(ca, folder, stem, x509certs.subject(names[0]), server_names=names)


def generate_pki(folder: Path) -> ClusterPKI:
    """Create every certificate and key the control plane needs in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(folder)
    apiserver = _issue(
        ca,
        folder,
        "apiserver",
        x509certs.subject("kube-apiserver"),
        server_names=(
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
    )
    admin = _issue(ca, folder, "admin", x509certs.subject("flotilla-admin", "system:masters"), client=True)
    kcm_name = x509certs.subject("system:kube-controller-manager")
    kcm = _issue(ca, folder, "controller-manager", kcm_name, client=True)
    scheduler = _issue(ca, folder, "scheduler", x509certs.subject("system:kube-scheduler"), client=True)
    kwok = _issue(ca, folder, "kwok", x509certs.subject("kwok-controller", "system:masters"), client=True)
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
