"""Leader election over a coordination.k8s.io/v1 Lease: acquire, hold (renew), release.

:mod:`watcher.service` calls :meth:`LeaderElector.acquire` (returns once this replica leads),
then runs :meth:`LeaderElector.hold` beside the active work: it renews every ``retry_period``
and returns when a renewal has not succeeded for ``renew_deadline`` (leadership lost; the
active work must stop). :meth:`release` hands the lease back on a clean shutdown so the standby
takes over at once. The decisions are the pure functions of :mod:`watcher.lease`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from flotilla.runtime.errors import Conflict, KubeError, NotFound, Transient
from flotilla.runtime.health import Health
from watcher.informer import API_CHECK
from watcher.lease import (
    ElectionTiming,
    LeaseRecord,
    Observation,
    claim,
    lease_body,
    observe,
    parse_lease,
    release,
)

log = logging.getLogger("flotilla.watcher.election")


class KubeRequester(Protocol):
    """What the elector needs of :class:`flotilla.runtime.kube.KubeClient`."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        retry: bool = True,
    ) -> bytes: ...


class LeaderElector:
    def __init__(
        self,
        kube: KubeRequester,
        namespace: str,
        name: str,
        identity: str,
        health: Health,
        timing: ElectionTiming | None = None,
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.health = health
        self.timing = timing or ElectionTiming()
        self._observed: Observation | None = None
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._reported = ""

    def _report(self, problem: str | None) -> None:
        if problem and problem != self._reported:
            log.error("lease %s/%s: %s", self.namespace, self.name, problem)
        self._reported = problem or ""
        check = "lease"
        if problem:
            self.health.set_not_ready(check, problem)
        else:
            self.health.set_ready(check)

    async def _call(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        """One request, not retried: the election loop retries on its own clock."""
        raw = await self.kube.request(
            method,
            path,
            body=orjson.dumps(body) if body is not None else None,
            content_type="application/json" if body is not None else None,
            retry=False,
        )
        decoded = orjson.loads(raw) if raw else {}
        return decoded if isinstance(decoded, dict) else {}

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards."""
        now = time.monotonic()
        try:
            current = await self._call("GET", f"{self._path}/{self.name}")
        except NotFound:
            record = claim(self.identity, None, now, datetime.now(UTC), self.timing)
            assert record is not None
            created = await self._call("POST", self._path, lease_body(self.name, self.namespace, record))
            self._observed = Observation(parse_lease(created), now)
            return True
        self._observed = observe(self._observed, parse_lease(current), now)
        wanted = claim(self.identity, self._observed, now, datetime.now(UTC), self.timing)
        if wanted is None:
            return False
        written = await self._call(
            "PUT", f"{self._path}/{self.name}", lease_body(self.name, self.namespace, wanted)
        )
        self._observed = Observation(parse_lease(written), now)
        return True

    async def _attempt(self) -> bool:
        try:
            held = await self.try_acquire_or_renew()
        except Conflict:  # someone else wrote first (or created it): not ours this round
            return False
        except Transient as err:
            self._report(f"API server unreachable: {err}")
            self.health.set_not_ready(API_CHECK, f"API server unreachable: {err}")
            return False
        except KubeError as err:
            self._report(f"cannot read/write the Lease (RBAC for coordination.k8s.io leases?): {err}")
            return False
        self._report(None)
        self.health.set_ready(API_CHECK)
        return held

    @property
    def holder(self) -> str:
        return self._observed.record.holder if self._observed else ""

    async def acquire(self) -> None:
        """Return once this replica holds the lease (tries every retry period, with jitter)."""
        announced = ""
        while not await self._attempt():
            if self.holder and self.holder != announced:
                log.info("standby: lease %s/%s held by %s", self.namespace, self.name, self.holder)
                announced = self.holder
            await asyncio.sleep(self.timing.retry_period * random.uniform(1.0, 1.2))
        log.info("became leader (lease %s/%s, identity %s)", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renew until a renewal has failed for ``renew_deadline``; then return (leadership lost)."""
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(self.timing.retry_period)
            try:
                renewed = await asyncio.wait_for(self._attempt(), self.timing.renew_deadline)
            except TimeoutError:
                renewed = False
            if renewed:
                last_renew = time.monotonic()
            elif self.holder and self.holder != self.identity:
                log.error("lost the lease to %s", self.holder)
                return
            elif time.monotonic() - last_renew >= self.timing.renew_deadline:
                log.error("could not renew the lease for %.0fs: stepping down", self.timing.renew_deadline)
                return

    async def release(self) -> None:
        """Hand the lease back if this replica holds it (best effort, on clean shutdown)."""
        if self._observed is None:
            return
        current: LeaseRecord = self._observed.record
        freed = release(self.identity, current, datetime.now(UTC))
        if freed is None:
            return
        try:
            await self._call("PUT", f"{self._path}/{self.name}", lease_body(self.name, self.namespace, freed))
            log.info("released lease %s/%s", self.namespace, self.name)
        except KubeError as err:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, err)
