"""The chart's ``watcher.clonesetEventFilter``: off by default (kruise's gate is off by default),
``true`` runs the watcher with the CloneSet pod-update filter on (its env, which the command reads
as the flag's default)."""

from __future__ import annotations

import argparse

import pytest

from tests.unit.helm.chart_render import env_of, named, render
from watcher.command import build_config, register
from watcher.config import ConfigError


def _watcher_env(values: dict[str, object]) -> dict[str, object]:
    deployment = named(render(values), "Deployment", "flotilla-watcher")
    return env_of(deployment["spec"]["template"]["spec"]["containers"][0])


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["watcher", *argv])


def test_the_filter_is_off_by_default_and_on_when_set() -> None:
    assert _watcher_env({})["FLOTILLA_WATCH_CLONESET_EVENT_FILTER"] == "off"
    assert _watcher_env({"watcher.clonesetEventFilter": True})["FLOTILLA_WATCH_CLONESET_EVENT_FILTER"] == "on"


def test_the_watcher_reads_the_chart_value_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOTILLA_WATCH_CLONESET_EVENT_FILTER", raising=False)
    assert build_config(_parse()).cloneset_event_filter is False
    assert build_config(_parse("--cloneset-event-filter=on")).cloneset_event_filter is True
    for value, expected in (("on", True), ("off", False)):
        monkeypatch.setenv("FLOTILLA_WATCH_CLONESET_EVENT_FILTER", value)
        assert build_config(_parse()).cloneset_event_filter is expected
    monkeypatch.setenv("FLOTILLA_WATCH_CLONESET_EVENT_FILTER", "yes")
    with pytest.raises(ConfigError, match="'on' or 'off'"):
        build_config(_parse())
