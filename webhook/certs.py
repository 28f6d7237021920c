"""The webhook's own CA and serving certificate (``cryptography``), and whether a pair still serves.

What kruise's ``pkg/webhook/util/generator`` does, in Python: a self-signed CA and a serving
certificate it signs for the webhook's names (DNS names, or an IP for a loopback URL). A new
serving certificate reuses the CA while the CA outlives it, so ``caBundle`` changes only when the
CA itself is renewed. Pure apart from key generation; the clock is an argument.
Called by :mod:`webhook.certstore`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "flotilla-webhook-ca"
#: kruise: a CA and serving certificate valid ten years, renewed six months before expiry.
DEFAULT_CA_VALIDITY = dt.timedelta(days=3650)
DEFAULT_CERT_VALIDITY = dt.timedelta(days=3650)
DEFAULT_RENEW_BEFORE = dt.timedelta(days=180)


@dataclass(frozen=True)
class CertBundle:
    """PEM bytes: the CA (certificate and key) and the serving certificate and key it signed."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _common_name(names: Sequence[str]) -> str:
    return next((name for name in names if len(name) <= 64), "flotilla-webhook")


def new_ca(now: dt.datetime, validity: dt.timedelta = DEFAULT_CA_VALIDITY) -> tuple[bytes, bytes]:
    """A self-signed CA: ``(certificate PEM, key PEM)``."""
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue(
    ca_cert: bytes, ca_key: bytes, names: Sequence[str], now: dt.datetime, validity: dt.timedelta
) -> CertBundle:
    """A serving certificate for ``names`` (all in subjectAltName; the first that fits the 64
    characters X.509 allows is the common name, which clients no longer check), signed by the CA."""
    if not names:
        raise ValueError("a serving certificate needs at least one name")
    ca = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = _new_key()
    not_after = min(now + validity, ca.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(names))]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
        .sign(signer, hashes.SHA256())
    )
    return CertBundle(ca_cert, ca_key, cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def new_bundle(
    names: Sequence[str],
    now: dt.datetime,
    validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
    ca_validity: dt.timedelta = DEFAULT_CA_VALIDITY,
    reuse: CertBundle | None = None,
    renew_before: dt.timedelta = DEFAULT_RENEW_BEFORE,
) -> CertBundle:
    """A fresh serving certificate, signed by ``reuse``'s CA while that CA stays valid for twice
    ``renew_before`` (kruise keeps a CA valid for another year; 2 x 180 days by default): the
    certificate, which never outlives its CA, then serves at least ``renew_before`` before its
    own renewal, and ``caBundle`` changes only when the CA itself is near its end."""
    if reuse is not None and ca_usable(reuse, now + 2 * renew_before):
        return issue(reuse.ca_cert, reuse.ca_key, names, now, validity)
    ca_cert, ca_key = new_ca(now, max(ca_validity, validity))
    return issue(ca_cert, ca_key, names, now, validity)


def ca_usable(bundle: CertBundle, until: dt.datetime) -> bool:
    """The CA parses, its key matches it, and it is valid until ``until``."""
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca_cert)
        key = serialization.load_pem_private_key(bundle.ca_key, password=None)
    except ValueError:
        return False
    return ca.public_key() == key.public_key() and ca.not_valid_after_utc > until


def serves(bundle: CertBundle, names: Sequence[str], now: dt.datetime, until: dt.datetime) -> bool:
    """kruise ``ValidCACert``: the certificate is signed by the CA, matches its key, covers every
    name, and both it and the CA are valid from ``now`` until ``until``."""
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca_cert)
        cert = x509.load_pem_x509_certificate(bundle.cert)
        key = serialization.load_pem_private_key(bundle.key, password=None)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.public_key() != key.public_key():
        return False
    for certificate in (ca, cert):
        if not certificate.not_valid_before_utc <= now or certificate.not_valid_after_utc <= until:
            return False
    try:
        covered = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return all(name in covered for name in _alt_names(names))
