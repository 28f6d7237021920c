"""TLS to NATS from the environment: ``NATS_CA``, ``NATS_CERT``, ``NATS_KEY``.

Called by :mod:`flotilla.runtime.natsconn` at every connection attempt (a Secret mounted late
is picked up). ``NATS_CA`` names a PEM bundle the server's certificate is verified against
(instead of the system roots); ``NATS_CERT`` and ``NATS_KEY`` name the client certificate and
key for servers that verify clients (nats-server ``tls { verify: true }``). Any of them set
turns TLS on; none set leaves TLS to the URL (``tls://``) and the server's demand. A missing
or unusable file is a :class:`TLSProblem` naming the variable and the path, never the content.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

CA_ENV = "NATS_CA"
CERT_ENV = "NATS_CERT"
KEY_ENV = "NATS_KEY"


class TLSProblem(ValueError):
    """The TLS settings cannot be used; the message says which variable and file."""


def _path(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def tls_context_from_env(environ: Mapping[str, str]) -> ssl.SSLContext | None:
    """An SSL context for the settings in ``environ``; None when none is set."""
    ca, cert, key = (_path(environ, name) for name in (CA_ENV, CERT_ENV, KEY_ENV))
    if ca is None and cert is None and key is None:
        return None
    if (cert is None) != (key is None):
        missing, given = (KEY_ENV, CERT_ENV) if key is None else (CERT_ENV, KEY_ENV)
        raise TLSProblem(f"{given} is set but {missing} is not: a client certificate needs both")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise TLSProblem(f"{CA_ENV}={ca}: cannot load it as a PEM CA bundle: {_why(exc)}") from None
    if cert is not None and key is not None:
        try:
            context.load_cert_chain(certfile=cert, keyfile=key)
        except (OSError, ssl.SSLError) as exc:
            raise TLSProblem(
                f"{CERT_ENV}={cert} / {KEY_ENV}={key}: cannot load the client certificate: {_why(exc)}"
            ) from None
    return context


def _why(exc: OSError | ssl.SSLError) -> str:
    return str(exc.strerror or exc) if isinstance(exc, OSError) and exc.strerror else str(exc)
