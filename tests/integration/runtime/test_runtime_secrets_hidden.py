"""Credentials never appear in a component's log or its /readyz text.

Real `flotilla worker cloneset` processes against the session's NATS server, signed in four
ways: a password in the URL (accepted, and refused when wrong), NATS_USER/NATS_PASSWORD, and
a NATS_CREDS file. Their whole log and /readyz body are searched for the password and for
the credentials file's JWT and seed; the test also checks the places a secret would show (the
server URL, the credentials problem) are present in redacted form, so it cannot pass on an
empty log.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.nats import NatsServer
from schemas.bus.permissions import worker_user
from tests.support.natscreds import SAMPLE_CREDS
from tests.support.natsworker import NatsWorker, nats_workers
from tests.support.polling import eventually

__all__ = ["nats_workers"]

USER = worker_user("cloneset")


def _server(dev_env: DevEnvironment) -> NatsServer:
    if dev_env.nats is None:
        raise AssertionError("this test needs the NATS server the test session starts (its users)")
    return dev_env.nats


def _assert_hidden(texts: dict[str, str], *secrets_: str) -> None:
    for where, text in texts.items():
        for secret in secrets_:
            assert secret not in text, f"a secret appears in {where}"


def test_passwords_and_credentials_never_reach_logs_or_readiness(
    dev_env: DevEnvironment, tmp_path: Path, nats_workers: list[NatsWorker]
) -> None:
    server = _server(dev_env)
    password = server.passwords[USER]
    wrong = f"wrong-{secrets.token_hex(12)}"
    host = f"127.0.0.1:{server.port}"
    creds = tmp_path / "worker.creds"
    creds.write_text(SAMPLE_CREDS)
    jwt_line, seed_line = SAMPLE_CREDS.splitlines()[1], SAMPLE_CREDS.splitlines()[8]
    assert jwt_line.startswith("eyJ")
    assert seed_line.startswith("SU")

    kubeconfig = dev_env.kubeconfig
    url_ok = NatsWorker(kubeconfig, tmp_path / "url-ok.log", f"nats://{USER}:{password}@{host}", {})
    url_wrong = NatsWorker(kubeconfig, tmp_path / "url-wrong.log", f"nats://{USER}:{wrong}@{host}", {})
    env_wrong = NatsWorker(
        kubeconfig, tmp_path / "env-wrong.log", f"nats://{host}", {"NATS_USER": USER, "NATS_PASSWORD": wrong}
    )
    creds_file = NatsWorker(kubeconfig, tmp_path / "creds.log", f"nats://{host}", {"NATS_CREDS": str(creds)})
    workers = [url_ok, url_wrong, env_wrong, creds_file]
    nats_workers.extend(workers)

    # Each reaches the point where it would show a secret, and shows it redacted.
    eventually(lambda: f"connected to nats://{USER}:***@{host}" in url_ok.log_text(), 60, what="url-ok")
    readiness = {
        "url-wrong": eventually(lambda: url_wrong.readyz_mentions("Authorization Violation"), 60),
        "env-wrong": eventually(lambda: env_wrong.readyz_mentions("Authorization Violation"), 60),
        "creds": eventually(lambda: creds_file.readyz_mentions("cannot "), 60),
    }
    assert f"nats://{USER}:***@{host}" in readiness["url-wrong"]
    eventually(lambda: "Authorization Violation" in env_wrong.log_text(), 30, what="env-wrong log")
    readiness["url-ok"] = url_ok.readyz()
    for worker in workers:
        worker.stop()
    logs = {worker.log.name: worker.log_text() for worker in workers}
    assert f"nats://{USER}:***@{host}" in logs["url-wrong.log"]
    _assert_hidden({**logs, **{f"/readyz of {k}": v for k, v in readiness.items()}}, password, wrong)
    _assert_hidden({**logs, **readiness}, jwt_line, seed_line, "SUAAAA")
