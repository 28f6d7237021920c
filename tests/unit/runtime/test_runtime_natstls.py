"""NATS_CA / NATS_CERT / NATS_KEY: which settings turn TLS on, and why unusable ones are refused."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from flotilla.devcluster.pki import issue_client_cert, make_ca
from flotilla.runtime.natstls import TLSProblem, tls_context_from_env


def test_nothing_set_means_no_tls_context() -> None:
    assert tls_context_from_env({}) is None
    assert tls_context_from_env({"NATS_CA": " "}) is None


def test_ca_and_client_certificate_load(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    client = issue_client_cert(ca, tmp_path / "client", "worker", "flotilla-worker-cloneset")
    context = tls_context_from_env(
        {"NATS_CA": str(ca.cert), "NATS_CERT": str(client.cert), "NATS_KEY": str(client.key)}
    )
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    subjects = [dict(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()]
    assert {"commonName": "flotilla-dev-ca"} in subjects


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NATS_CERT": "/x/tls.crt"}, "NATS_CERT is set but NATS_KEY is not"),
        ({"NATS_KEY": "/x/tls.key"}, "NATS_KEY is set but NATS_CERT is not"),
        ({"NATS_CA": "/nonexistent/ca.crt"}, "NATS_CA=/nonexistent/ca.crt: cannot load it"),
    ],
)
def test_unusable_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(TLSProblem, match=message):
        tls_context_from_env(env)


def test_a_key_file_that_is_not_a_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    client = issue_client_cert(ca, tmp_path / "client", "worker", "w")
    bogus = tmp_path / "bogus.key"
    bogus.write_text("-----BEGIN EC PRIVATE KEY-----\nTOPSECRETNOTAKEY\n-----END EC PRIVATE KEY-----\n")
    with pytest.raises(TLSProblem) as caught:
        tls_context_from_env({"NATS_CERT": str(client.cert), "NATS_KEY": str(bogus)})
    assert f"NATS_KEY={bogus}" in str(caught.value)
    assert "TOPSECRET" not in str(caught.value)
