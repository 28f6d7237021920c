"""``flotilla watcher``: the watcher command line (flags and env vars -> :mod:`watcher.service`).

Listed in ``flotilla.cli.SUBCOMMAND_MODULES``; :func:`register` adds the parser.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from pathlib import Path

from schemas.bus.settings import BusSettingsError, add_arguments, from_arguments
from watcher.config import CATALOGUE, ConfigError, WatcherConfig, load_file, select_types
from watcher.lease import ElectionTiming

_DESCRIPTION = """\
List and watch the Kubernetes kinds of the enabled worker types, map every event to the
reconcile keys it concerns (the object; an owned pod/PVC/ControllerRevision -> its controller
owner) and publish one trigger per key to flotilla.reconcile.<type>.<namespace>.<name>.

Run two replicas: one leads through a coordination.k8s.io Lease, the other is a hot standby.
The leader resumes from the resourceVersions checkpointed in NATS KV, relists on 410 Gone and
re-triggers every key each --resync-period. Serves /metrics, /healthz, /readyz on
FLOTILLA_HTTP_PORT (default 8080). Tracing is configured by the standard OTEL_* variables.
"""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "watcher",
        help="stream Kubernetes watch events onto JetStream as reconcile triggers",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    known = ", ".join(spec.name for spec in CATALOGUE)
    parser.add_argument(
        "--types",
        default=os.environ.get("FLOTILLA_WATCH_TYPES"),
        help=f"comma-separated worker types to watch for (env FLOTILLA_WATCH_TYPES; built in: {known}; "
        "default: every type of --config, else all built-in ones)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("FLOTILLA_WATCH_CONFIG"),
        help="YAML file defining more worker types (see docs/watcher.md; env FLOTILLA_WATCH_CONFIG)",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("FLOTILLA_WATCH_NAMESPACE"),
        help="watch only these namespaces, comma-separated (env FLOTILLA_WATCH_NAMESPACE; default: all)",
    )
    parser.add_argument(
        "--kubeconfig", type=Path, default=None, help="kubeconfig (default $KUBECONFIG or in-cluster)"
    )
    parser.add_argument(
        "--nats-url", default=_env("NATS_URL", "nats://127.0.0.1:4222"), help="NATS server (env NATS_URL)"
    )
    parser.add_argument(
        "--lease-namespace",
        default=_env("POD_NAMESPACE", "default"),
        help="namespace of the leader-election Lease (env POD_NAMESPACE)",
    )
    parser.add_argument(
        "--lease-name",
        default="flotilla-watcher",
        help="name of the Lease; also scopes the checkpoints, so one per watcher deployment",
    )
    parser.add_argument(
        "--identity",
        default=_env("POD_NAME", ""),
        help="this replica's holder identity (env POD_NAME; default hostname + random suffix)",
    )
    parser.add_argument("--lease-duration", type=float, default=15.0, help="seconds (default 15)")
    parser.add_argument("--renew-deadline", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--retry-period", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument(
        "--resync-period", type=float, default=300.0, help="re-trigger every key this often (s)"
    )
    parser.add_argument(
        "--checkpoint-interval", type=float, default=1.0, help="save resourceVersions this often (s)"
    )
    parser.add_argument(
        "--watch-timeout", type=int, default=300, help="server-side watch timeout, randomized up to 2x (s)"
    )
    parser.add_argument("--max-in-flight", type=int, default=512, help="unacknowledged publishes at most")
    parser.add_argument(
        "--cloneset-event-filter",
        choices=("on", "off"),
        default=os.environ.get("FLOTILLA_WATCH_CLONESET_EVENT_FILTER", "off"),
        help="on: a pod update that cannot change its CloneSet's plan publishes no trigger (kruise's "
        "CloneSetEventHandlerOptimization, widened; docs/watcher.md; env "
        "FLOTILLA_WATCH_CLONESET_EVENT_FILTER; default off, as kruise's gate)",
    )
    add_arguments(parser)
    parser.add_argument(
        "--http-port", type=int, default=None, help="port of /metrics, /healthz, /readyz (0: any)"
    )
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> WatcherConfig:
    if args.cloneset_event_filter not in ("on", "off"):  # a default from the environment
        raise ConfigError(f"--cloneset-event-filter: 'on' or 'off', not {args.cloneset_event_filter!r}")
    extra = load_file(args.config) if args.config else ()
    enabled = [name.strip() for name in args.types.split(",") if name.strip()] if args.types else None
    return WatcherConfig(
        types=select_types(enabled, extra),
        namespaces=tuple(dict.fromkeys(ns.strip() for ns in (args.namespace or "").split(",") if ns.strip())),
        resync_seconds=args.resync_period,
        checkpoint_seconds=args.checkpoint_interval,
        watch_timeout_seconds=args.watch_timeout,
        max_in_flight=args.max_in_flight,
        cloneset_event_filter=args.cloneset_event_filter == "on",
    )


def run(args: argparse.Namespace) -> int:
    from watcher.service import Options, main  # heavy imports only when the command runs

    try:
        config = build_config(args)
        timing = ElectionTiming(args.lease_duration, args.renew_deadline, args.retry_period)
        bus = from_arguments(args)
    except (ConfigError, BusSettingsError, ValueError) as err:
        print(f"flotilla watcher: {err}")
        return 2
    identity = args.identity or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    options = Options(
        kubeconfig=args.kubeconfig,
        nats_url=args.nats_url,
        lease_namespace=args.lease_namespace,
        lease_name=args.lease_name,
        identity=identity,
        timing=timing,
        http_port=args.http_port,
        bus=bus,
    )
    return main(config, options)
