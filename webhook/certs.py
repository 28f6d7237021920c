"""The webhook's own CA and serving certificate (``cryptography``), and whether a pair still serves.

What kruise's ``pkg/webhook/util/generator`` does, in Python: a self-signed CA and a serving
certificate it signs for the webhook's names (DNS names, or an IP for a loopback URL). A new
serving certificate reuses the CA while the CA outlives it, so ``caBundle`` changes only when the
CA itself is renewed. Pure apart from key generation; the clock is an argument.
Called by :mod:`webhook.certstore`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from flotilla.runtime import x509certs

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


def _common_name(names: Sequence[str]) -> str:
    return next((name for name in names if len(name) <= 64), "flotilla-webhook")


def new_ca(now: dt.datetime, validity: dt.timedelta = DEFAULT_CA_VALIDITY) -> tuple[bytes, bytes]:
    """A self-signed CA: ``(certificate PEM, key PEM)``."""
    key = x509certs.new_key()
    cert = x509certs.self_signed_ca(key, x509certs.subject(CA_COMMON_NAME), now, validity, path_length=0)
    return x509certs.cert_pem(cert), x509certs.key_pem(key)


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
    key = x509certs.new_key()
    not_after = min(now + validity, ca.not_valid_after_utc)
    name = x509certs.subject(_common_name(names))
    cert = x509certs.signed_leaf(ca, signer, key, name, now, not_after, server_names=names)
    return CertBundle(ca_cert, ca_key, x509certs.cert_pem(cert), x509certs.key_pem(key))


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
    return all(name in covered for name in x509certs.alt_names(names))
