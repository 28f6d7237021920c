"""The one HTTP port of a Flotilla process: ``/metrics``, ``/healthz``, ``/readyz`` (aiohttp).

Started by the watcher and worker commands on ``FLOTILLA_HTTP_PORT`` (default 8080).
``/healthz`` is 200 while the event loop answers (liveness); ``/readyz`` is 200 only when
every :class:`~flotilla.runtime.health.Health` check is ready, else 503 with the reasons.
"""

from __future__ import annotations

import os

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from flotilla.runtime.health import Health

DEFAULT_PORT = 8080


def http_port() -> int:
    return int(os.environ.get("FLOTILLA_HTTP_PORT", str(DEFAULT_PORT)))


def build_app(health: Health) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(
            text="ok\n" if health.alive else "stopping\n", status=200 if health.alive else 503
        )

    async def readyz(_: web.Request) -> web.Response:
        checks = health.snapshot()
        body = {name: {"ready": state.ready, "reason": state.reason} for name, state in checks.items()}
        status = 200 if all(state.ready for state in checks.values()) else 503
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_http_server(health: Health, port: int | None = None, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve until ``await runner.cleanup()``; port 0 picks a free one (see ``bound_port``)."""
    runner = web.AppRunner(build_app(health), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, http_port() if port is None else port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("HTTP server is not listening")
