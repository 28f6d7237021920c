"""``make bench-inplace-real`` interrupted: Ctrl-C and SIGTERM tear down as a normal end does.

``run_on_real_node`` stops the controller side, then the node (whose kubelet stops the pods),
then the control plane, whichever way the work ends; a run that is interrupted skips its
between-runs tidying (``tidy_unless_interrupted``: settling the CloneSet polls for up to 300 s).
Without a real node: stand-ins that log their start and stop; the signals are real, sent to this
process (``asyncio.run`` turns SIGINT into a cancelled main task and KeyboardInterrupt; SIGTERM
unwinds through ``unwind_on_sigterm``'s SystemExit(143), the shell's 128 + 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from benchmarks.inplace_real import run_on_real_node, tidy_unless_interrupted
from flotilla.devcluster.process import unwind_on_sigterm

NORMAL_END = [
    "node started",
    "controller started",
    "controller stopped",
    "node stopped",
    "plane stopped",
]


class Part:
    """A stand-in for the plane or the node: logs its start and stop."""

    def __init__(self, name: str, log: list[str], stop_fails: bool = False) -> None:
        self.name, self.log, self.stop_fails = name, log, stop_fails

    def start(self) -> None:
        self.log.append(f"{self.name} started")

    def stop(self) -> None:
        self.log.append(f"{self.name} stopped")
        if self.stop_fails:
            raise RuntimeError(f"{self.name} would not stop")


def _run(log: list[str], work: Callable[[Part], Any], *, node_stop_fails: bool = False) -> Any:
    def start_controller(_node: Part, stack: contextlib.ExitStack[bool | None]) -> None:
        log.append("controller started")
        stack.callback(log.append, "controller stopped")

    plane = Part("plane", log)
    return run_on_real_node(plane, lambda: Part("node", log, node_stop_fails), start_controller, work)


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    saved = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, saved)


@pytest.fixture
def interactive_sigint() -> Iterator[None]:
    """SIGINT as an interactive Python gets it (KeyboardInterrupt): a pytest started in the
    background of a non-interactive shell inherits SIGINT ignored (docs/testing.md)."""
    saved = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, saved)


def _interrupted_bench(sig: signal.Signals, tidied: list[str]) -> Callable[[Part], None]:
    """The work: an asyncio run inside a tidied block that this process signals."""

    async def tidy() -> None:
        tidied.append("tidied")

    async def bench() -> None:
        async with tidy_unless_interrupted(tidy):
            os.kill(os.getpid(), sig)
            await asyncio.sleep(20)  # the signal ends this long before

    return lambda _node: asyncio.run(bench())


def test_a_normal_end_stops_the_controller_the_node_then_the_plane() -> None:
    log: list[str] = []
    assert _run(log, lambda _node: "measured") == "measured"
    assert log == NORMAL_END


def test_ctrl_c_during_the_runs_skips_the_tidying_and_tears_down_the_same(interactive_sigint: None) -> None:
    log: list[str] = []
    tidied: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _run(log, _interrupted_bench(signal.SIGINT, tidied))
    assert log == NORMAL_END
    assert tidied == []


def test_sigterm_during_the_runs_exits_143_after_the_same_teardown(sigterm_restored: None) -> None:
    unwind_on_sigterm()
    log: list[str] = []
    tidied: list[str] = []
    with pytest.raises(SystemExit) as exited:
        _run(log, _interrupted_bench(signal.SIGTERM, tidied))
    assert exited.value.code == 143
    assert log == NORMAL_END
    assert tidied == []


def test_sigterm_outside_the_event_loop_tears_down_the_same(sigterm_restored: None) -> None:
    unwind_on_sigterm()
    log: list[str] = []

    def work(_node: Part) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(20)  # the handler's SystemExit ends this long before

    with pytest.raises(SystemExit):
        _run(log, work)
    assert log == NORMAL_END


def test_the_plane_stops_when_stopping_the_node_fails() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="node would not stop"):
        _run(log, lambda _node: None, node_stop_fails=True)
    assert log == NORMAL_END


@pytest.mark.parametrize("fails", [False, True], ids=["ends", "fails"])
def test_a_run_that_ends_or_fails_is_tidied(fails: bool) -> None:
    tidied: list[str] = []

    async def tidy() -> None:
        tidied.append("tidied")

    async def one_run() -> str:
        async with tidy_unless_interrupted(tidy):
            if fails:
                raise TimeoutError("no ImagePullJob succeeded")
        return "record"

    if fails:
        with pytest.raises(TimeoutError):
            asyncio.run(one_run())
    else:
        assert asyncio.run(one_run()) == "record"
    assert tidied == ["tidied"]
