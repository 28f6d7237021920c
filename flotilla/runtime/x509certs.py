"""X.509 building blocks shared by the webhook's certificates and the dev cluster's PKI.

One way to make a self-signed CA and a certificate it signs (EC P-256 keys, SHA-256, a
five-minute backdate for clock skew, names as IP addresses or DNS names in subjectAltName), so
:mod:`webhook.certs` (the admission server's CA and serving certificate, kruise's generator) and
:mod:`flotilla.devcluster.pki` (the local control plane's CA, serving and client certificates)
cannot drift apart. Pure apart from key generation; the clock is an argument.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates start this long before "now": a peer whose clock is a little behind accepts them.
BACKDATE = dt.timedelta(minutes=5)

_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey, pkcs8: bool = True) -> bytes:
    """The unencrypted private key as PEM (PKCS#8, or the traditional SEC1 form)."""
    form = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def subject(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    """Each name as an IP address when it parses as one, else as a DNS name."""
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def self_signed_ca(
    key: ec.EllipticCurvePrivateKey,
    name: x509.Name,
    now: dt.datetime,
    validity: dt.timedelta,
    path_length: int | None = None,
) -> x509.Certificate:
    """A CA certificate for ``key`` that signs itself (key usage: certificates, CRLs, signatures)."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def signed_leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    name: x509.Name,
    now: dt.datetime,
    not_after: dt.datetime,
    *,
    server_names: Sequence[str] = (),
    client: bool = False,
) -> x509.Certificate:
    """A certificate for ``key`` signed by ``ca``: serving ``server_names`` (subjectAltName) when
    given, for client authentication when ``client``."""
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server_names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names(server_names)), critical=False)
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(ca_key, hashes.SHA256())
