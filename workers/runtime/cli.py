"""``flotilla worker <type>``: run one worker process of a type.

The type is found as ``workers.<type>:WORKER`` (a ``WorkerType``), or from ``--plugin
module:ATTR`` (any importable module; the current directory is importable, so
``--plugin tests.support.testcm:WORKER`` works from the checkout). Registered in
``flotilla/cli.py``'s ``SUBCOMMAND_MODULES``. ``--feature-gates`` (default: env
``FLOTILLA_FEATURE_GATES``) takes kruise's gates (``flotilla.runtime.features``); the type's
``configure`` turns them into its planner config.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from flotilla.runtime.features import (
    FEATURE_GATES_ENV,
    FeatureGateError,
    FeatureGates,
    feature_gates_from_flag,
)
from flotilla.runtime.logs import setup_logging
from schemas.bus.settings import BusSettingsError, add_arguments, from_arguments
from workers.runtime.consumer import RuntimeOptions
from workers.runtime.contract import WorkerType
from workers.runtime.process import WorkerSettings, run_worker


def load_worker(worker_type: str, plugin: str | None) -> WorkerType[Any, Any]:
    """The WorkerType named ``worker_type`` (from ``plugin`` when given); SystemExit with a reason."""
    if plugin:
        module_name, _, attr = plugin.partition(":")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
    else:
        module_name, attr = f"workers.{worker_type}", "WORKER"
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SystemExit(
            f"flotilla worker: cannot import {module_name!r} for type {worker_type!r}: {err}"
        ) from err
    worker = getattr(module, attr or "WORKER", None)
    if not isinstance(worker, WorkerType):
        raise SystemExit(f"flotilla worker: {module_name}:{attr or 'WORKER'} is not a WorkerType")
    if worker.name != worker_type:
        raise SystemExit(f"flotilla worker: {module_name} defines type {worker.name!r}, not {worker_type!r}")
    return worker


def _feature_gates_arg(text: str) -> FeatureGates:
    try:
        return feature_gates_from_flag(text)
    except FeatureGateError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def configured_worker(args: argparse.Namespace) -> WorkerType[Any, Any]:
    """The worker type of the parsed ``flotilla worker`` arguments, its config built from the gates."""
    worker = load_worker(args.type, args.plugin)
    return worker.with_feature_gates(args.feature_gates)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a worker of one type (consumes flotilla.reconcile.<type>.>)",
        description="Run one worker process: bind the type's durable consumer, reconcile keys under "
        "per-key leases, serve /metrics /healthz /readyz on FLOTILLA_HTTP_PORT (default 8080). "
        "Tracing is configured by the standard OTEL_* environment variables.",
    )
    defaults = RuntimeOptions()
    parser.add_argument("type", help="worker type, e.g. cloneset")
    parser.add_argument("--plugin", help="load the type from MODULE:ATTR instead of workers.<type>:WORKER")
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--kubeconfig", type=Path, default=None, help="default: $KUBECONFIG, else in-cluster")
    parser.add_argument("--http-port", type=int, default=None, help="default: $FLOTILLA_HTTP_PORT or 8080")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="reconciles at once")
    parser.add_argument("--batch", type=int, default=defaults.batch, help="messages per fetch")
    parser.add_argument(
        "--max-ack-pending",
        type=int,
        default=defaults.max_ack_pending,
        help="unacked triggers of the type across all replicas (the consumer's max_ack_pending)",
    )
    parser.add_argument("--max-failures", type=int, default=defaults.max_failures, help="then dead-letter")
    parser.add_argument("--backoff-base", type=float, default=defaults.backoff_base, help="seconds")
    parser.add_argument("--backoff-max", type=float, default=defaults.backoff_max, help="seconds")
    parser.add_argument("--shutdown-grace", type=float, default=defaults.shutdown_grace, help="seconds")
    parser.add_argument("--log-level", default=None, help="default: $FLOTILLA_LOG_LEVEL or INFO")
    parser.add_argument(
        "--feature-gates",
        type=_feature_gates_arg,
        default=os.environ.get(FEATURE_GATES_ENV, ""),
        metavar="A=true,B=false",
        help="kruise v1.9.1 feature gates (AllAlpha, AllBeta and every kruise gate name); "
        f"default: ${FEATURE_GATES_ENV}, else kruise's defaults",
    )
    add_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    worker = configured_worker(args)
    logging.getLogger(__name__).info("feature gates: %s", args.feature_gates)
    try:
        bus = from_arguments(args)
    except BusSettingsError as err:
        print(f"flotilla worker: {err}", file=sys.stderr)
        return 2
    options = RuntimeOptions(
        concurrency=args.concurrency,
        batch=args.batch,
        max_ack_pending=args.max_ack_pending,
        max_failures=args.max_failures,
        backoff_base=args.backoff_base,
        backoff_max=args.backoff_max,
        shutdown_grace=args.shutdown_grace,
    )
    settings = WorkerSettings(
        nats_url=args.nats_url, kubeconfig=args.kubeconfig, http_port=args.http_port, options=options, bus=bus
    )
    return asyncio.run(_main(worker, settings))


async def _main(worker: WorkerType[Any, Any], settings: WorkerSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run_worker(worker, settings, stop)
