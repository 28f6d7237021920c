"""Operator settings of the bus: stream/bucket replicas and the byte limits of RECONCILE and EVENTLOG.

Pure. Read from the environment (``FLOTILLA_BUS_REPLICAS``, ``FLOTILLA_RECONCILE_MAX_BYTES``,
``FLOTILLA_EVENTLOG_MAX_BYTES``; the Helm chart sets them for every component from
``bus.*`` values) or from the ``--bus-*`` flags of ``flotilla watcher`` / ``flotilla worker``,
and applied by :func:`schemas.bus.bootstrap.declare` to every object it declares, so every
process asks for the same thing. Every component of one install must use the same settings:
two that disagree would correct each other's "drift" at each start.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from schemas.bus.streams import (
    EVENTLOG_MAX_BYTES,
    EVENTLOG_STREAM,
    RECONCILE_MAX_BYTES,
    RECONCILE_STREAM,
    BusSpec,
    StreamSpec,
)

REPLICAS_ENV = "FLOTILLA_BUS_REPLICAS"
RECONCILE_MAX_BYTES_ENV = "FLOTILLA_RECONCILE_MAX_BYTES"
EVENTLOG_MAX_BYTES_ENV = "FLOTILLA_EVENTLOG_MAX_BYTES"

#: JetStream replicates a stream on 1 to 5 servers.
MAX_REPLICAS = 5
_SIZE = re.compile(r"(\d+)\s*(|k|ki|m|mi|g|gi|t|ti)b?", re.IGNORECASE)
_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 1 << 10,
    "mi": 1 << 20,
    "gi": 1 << 30,
    "ti": 1 << 40,
}


class BusSettingsError(ValueError):
    """A bus setting is unusable; the message names the setting and what it accepts."""


def parse_replicas(text: str, where: str = REPLICAS_ENV) -> int:
    try:
        replicas = int(text.strip())
    except ValueError:
        raise BusSettingsError(
            f"{where}={text!r}: expected a number of replicas, 1 to {MAX_REPLICAS}"
        ) from None
    if not 1 <= replicas <= MAX_REPLICAS:
        raise BusSettingsError(f"{where}={replicas}: JetStream keeps 1 to {MAX_REPLICAS} replicas")
    return replicas


def parse_size(text: str, where: str) -> int:
    """Bytes from ``1073741824``, ``1Gi``, ``256Mi``, ``500M`` (Kubernetes-style suffixes)."""
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise BusSettingsError(f"{where}={text!r}: expected a size in bytes such as 268435456, 256Mi or 1Gi")
    size = int(found.group(1)) * _UNITS[found.group(2).lower()]
    if size < 1 << 20:
        raise BusSettingsError(f"{where}={text!r}: at least 1Mi, or the stream fills at once")
    return size


@dataclass(frozen=True)
class BusSettings:
    """Replicas of every stream and KV bucket, and the byte limits of the two streams that can grow."""

    replicas: int = 1
    reconcile_max_bytes: int = RECONCILE_MAX_BYTES
    eventlog_max_bytes: int = EVENTLOG_MAX_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BusSettings:
        """Settings from the environment; unset variables keep the defaults (R1: one NATS server)."""
        settings = cls()
        if environ.get(REPLICAS_ENV, "").strip():
            settings = replace(settings, replicas=parse_replicas(environ[REPLICAS_ENV]))
        if environ.get(RECONCILE_MAX_BYTES_ENV, "").strip():
            size = parse_size(environ[RECONCILE_MAX_BYTES_ENV], RECONCILE_MAX_BYTES_ENV)
            settings = replace(settings, reconcile_max_bytes=size)
        if environ.get(EVENTLOG_MAX_BYTES_ENV, "").strip():
            size = parse_size(environ[EVENTLOG_MAX_BYTES_ENV], EVENTLOG_MAX_BYTES_ENV)
            settings = replace(settings, eventlog_max_bytes=size)
        return settings

    def stream(self, spec: StreamSpec) -> StreamSpec:
        limits = {RECONCILE_STREAM: self.reconcile_max_bytes, EVENTLOG_STREAM: self.eventlog_max_bytes}
        return replace(spec, replicas=self.replicas, max_bytes=limits.get(spec.name, spec.max_bytes))

    def apply(self, spec: BusSpec) -> BusSpec:
        """``spec`` with these replicas on every stream and bucket and these byte limits."""
        return replace(
            spec,
            streams=tuple(self.stream(stream) for stream in spec.streams),
            buckets=tuple(replace(bucket, replicas=self.replicas) for bucket in spec.buckets),
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--bus-*`` flags of every command that declares the bus (defaults from the environment)."""
    group = parser.add_argument_group("bus settings (every component of an install must agree)")
    group.add_argument(
        "--bus-replicas",
        default=os.environ.get(REPLICAS_ENV, ""),
        help=f"replicas of every stream and KV bucket, 1 to {MAX_REPLICAS} (env {REPLICAS_ENV}; default 1; "
        "3 needs a JetStream cluster of at least 3 servers)",
    )
    group.add_argument(
        "--reconcile-max-bytes",
        default=os.environ.get(RECONCILE_MAX_BYTES_ENV, ""),
        help=f"byte limit of the RECONCILE stream, e.g. 256Mi (env {RECONCILE_MAX_BYTES_ENV}; default 256Mi)",
    )
    group.add_argument(
        "--eventlog-max-bytes",
        default=os.environ.get(EVENTLOG_MAX_BYTES_ENV, ""),
        help=f"byte limit of the EVENTLOG stream, e.g. 1Gi (env {EVENTLOG_MAX_BYTES_ENV}; default 1Gi)",
    )


def from_arguments(args: argparse.Namespace) -> BusSettings:
    """:class:`BusSettings` from the ``--bus-*`` flags; :class:`BusSettingsError` when one is unusable."""
    return BusSettings.from_env(
        {
            REPLICAS_ENV: args.bus_replicas or "",
            RECONCILE_MAX_BYTES_ENV: args.reconcile_max_bytes or "",
            EVENTLOG_MAX_BYTES_ENV: args.eventlog_max_bytes or "",
        }
    )
