"""NATS_URL / --nats-url may name every server of a NATS cluster, comma-separated (pure)."""

from __future__ import annotations

from flotilla.runtime.natsconn import connect_options


def test_a_comma_separated_url_gives_nats_py_every_server() -> None:
    options = connect_options(
        "nats://a:4222, nats://b:4222,nats://c:4222,", name="w", credentials=None, first_attempt_timeout=3
    )
    assert options["servers"] == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
