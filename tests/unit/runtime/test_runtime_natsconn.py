"""NATS connect options: the credentials file named by NATS_CREDS, and why one cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from flotilla.runtime.natsconn import (
    connect_options,
    credentials_from_env,
    credentials_problem,
    password_from_env,
    redact_url,
)
from tests.support.natscreds import SAMPLE_CREDS


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"NATS_CREDS": ""}, None),
        ({"NATS_CREDS": "  "}, None),
        ({"NATS_CREDS": "/etc/flotilla/nats/nats.creds"}, Path("/etc/flotilla/nats/nats.creds")),
    ],
)
def test_credentials_from_env(environ: dict[str, str], expected: Path | None) -> None:
    assert credentials_from_env(environ) == expected


def test_options_without_credentials() -> None:
    options = connect_options(
        "nats://n:4222", name="flotilla-worker-x", credentials=None, first_attempt_timeout=3
    )
    assert options == {
        "servers": ["nats://n:4222"],
        "name": "flotilla-worker-x",
        "connect_timeout": 3,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "ping_interval": 5,
        "max_outstanding_pings": 3,
    }


def test_options_pass_the_credentials_file_to_nats_py() -> None:
    path = Path("/etc/flotilla/nats/nats.creds")
    options = connect_options("nats://n:4222", name="w", credentials=path, first_attempt_timeout=3)
    assert options["user_credentials"] == "/etc/flotilla/nats/nats.creds"
    without = connect_options("nats://n:4222", name="w", credentials=None, first_attempt_timeout=3)
    assert {k: v for k, v in options.items() if k != "user_credentials"} == without


@pytest.mark.parametrize(
    ("content", "nkeys_installed", "problem"),
    [
        (None, True, "no such file (is the credentials Secret mounted?)"),
        ("a directory", True, "cannot read it: Is a directory"),
        ("user: flotilla\npassword: x\n", True, "not a NATS credentials file"),
        (SAMPLE_CREDS.split("***")[0], True, "not a NATS credentials file"),  # the JWT, no seed
        (SAMPLE_CREDS, False, "NATS_CREDS is set but the nkeys package is not installed"),
        (SAMPLE_CREDS, True, None),
    ],
)
def test_credentials_problem(
    tmp_path: Path, content: str | None, nkeys_installed: bool, problem: str | None
) -> None:
    path = tmp_path / "nats.creds"
    if content == "a directory":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    found = credentials_problem(path, nkeys_installed=nkeys_installed)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert "NATS_CREDS" in found


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://flotilla-watcher:s3cret@nats.svc:4222", "nats://flotilla-watcher:***@nats.svc:4222"),
        ("tls://tok3n@nats.svc:4222", "tls://***@nats.svc:4222"),
        ("nats://u%40x:p%3Aw@h:1", "nats://u@x:***@h:1"),
    ],
)
def test_redact_url_hides_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"NATS_PASSWORD": "p"}, None),
        ({"NATS_USER": "flotilla-watcher", "NATS_PASSWORD": "p"}, ("flotilla-watcher", "p")),
        ({"NATS_USER": " u "}, ("u", "")),
    ],
)
def test_password_from_env(environ: dict[str, str], expected: tuple[str, str] | None) -> None:
    assert password_from_env(environ) == expected


def test_options_pass_user_password_and_inbox_prefix() -> None:
    options = connect_options(
        "nats://n:4222",
        name="w",
        credentials=None,
        first_attempt_timeout=3,
        password=("flotilla-worker-cloneset", "p"),
        inbox_prefix="_INBOX.flotilla-worker-cloneset",
    )
    assert (options["user"], options["password"]) == ("flotilla-worker-cloneset", "p")
    assert options["inbox_prefix"] == "_INBOX.flotilla-worker-cloneset"
