"""What every side-by-side benchmark run does around its timed step: poll until done, delete the
object and wait for it and its pods to be gone, and head its JSON result with how it was run."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import PODS, KubeClient

POLL_S = 0.2


async def until(check: Callable[[], Awaitable[bool]], limit_s: float, poll_s: float = POLL_S) -> bool:
    """True once ``check`` is; False when ``limit_s`` passed first."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(poll_s)
    return False


async def delete_and_wait_gone(
    client: KubeClient, path: str, namespace: str, app: str, limit_s: float
) -> bool:
    """Delete the object at ``path`` and wait until it and its pods (label ``app=<app>``) are gone,
    so that the next run starts on an empty namespace."""
    await client.delete(path)

    async def gone() -> bool:
        try:
            await client.get(path)
            return False
        except NotFound:
            pods = await client.get(PODS.path(namespace), {"labelSelector": f"app={app}"})
            return not pods.get("items")

    return await until(gone, limit_s)


def git_commit() -> str:
    """The checkout's short commit ('' outside a git checkout)."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def result_header(benchmark: str, module: str, argv: Sequence[str]) -> dict[str, Any]:
    """The fields every benchmark's JSON result starts with: what ran, on which commit, when, and
    how busy the machine was at the start."""
    return {
        "benchmark": benchmark,
        "command": " ".join([f"python -m {module}", *argv]),
        "git_commit": git_commit(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
    }
