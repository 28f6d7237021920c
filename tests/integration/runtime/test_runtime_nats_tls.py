"""TLS to NATS (NATS_CA / NATS_CERT / NATS_KEY) against a real nats-server that requires TLS
and verifies client certificates, with certificates generated for the test.

Real `flotilla worker cloneset` processes: with the CA and a client certificate the worker
connects and declares the bus; without a client certificate, or trusting another CA, the
server (or the worker) refuses the connection and /readyz says why, while the process keeps
retrying instead of exiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.nats import NatsServer, NatsTLS
from flotilla.devcluster.pki import CertPair, issue_client_cert, issue_serving_cert, make_ca
from tests.support.natsworker import NatsWorker, nats_workers
from tests.support.polling import eventually

__all__ = ["nats_workers"]


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[NatsServer, CertPair]]:
    pki = tmp_path / "pki"
    ca = make_ca(pki)
    serving = issue_serving_cert(ca, pki, "nats-server", ("127.0.0.1", "localhost"))
    server = NatsServer(tmp_path / "tls-nats", tls=NatsTLS(serving.cert, serving.key, ca.cert))
    server.start()
    try:
        yield server, ca
    finally:
        server.stop()


def test_worker_connects_with_ca_and_client_certificate_and_is_refused_without(
    dev_env: DevEnvironment,
    tmp_path: Path,
    tls_server: tuple[NatsServer, CertPair],
    nats_workers: list[NatsWorker],
) -> None:
    server, ca_pair = tls_server
    ca = ca_pair.cert
    client = issue_client_cert(ca_pair, tmp_path / "client", "worker-cloneset", "flotilla-worker-cloneset")
    other_ca = make_ca(tmp_path / "other-ca").cert
    tls_env = {"NATS_CA": str(ca), "NATS_CERT": str(client.cert), "NATS_KEY": str(client.key)}
    kubeconfig = dev_env.kubeconfig

    good = NatsWorker(kubeconfig, tmp_path / "good.log", server.url, tls_env)
    no_client_cert = NatsWorker(kubeconfig, tmp_path / "no-cert.log", server.url, {"NATS_CA": str(ca)})
    wrong_env = {**tls_env, "NATS_CA": str(other_ca)}
    wrong_ca = NatsWorker(kubeconfig, tmp_path / "wrong-ca.log", server.url, wrong_env)
    half = NatsWorker(kubeconfig, tmp_path / "half.log", server.url, {"NATS_CERT": str(client.cert)})
    nats_workers.extend([good, no_client_cert, wrong_ca, half])

    eventually(lambda: good.readyz_mentions('"bus":{"ready":true'), 90, what=good.log_text)
    assert "nats: connected to" in good.log_text()

    refused = eventually(
        lambda: no_client_cert.readyz_mentions("cannot connect"), 60, what=no_client_cert.log_text
    )
    assert '"nats":{"ready":false' in refused
    unverified = eventually(lambda: wrong_ca.readyz_mentions("cannot connect"), 60, what=wrong_ca.log_text)
    assert "certificate verify failed" in unverified.lower()
    misconfigured = eventually(lambda: half.readyz_mentions("NATS_KEY"), 60, what=half.log_text)
    assert "NATS_CERT is set but NATS_KEY is not" in misconfigured

    for worker in (no_client_cert, wrong_ca, half):
        assert worker.proc.poll() is None, f"{worker.log.name}: the process exited instead of retrying"
        assert "nats: connected to" not in worker.log_text()
