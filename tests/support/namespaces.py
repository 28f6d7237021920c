"""Test namespaces: made fresh (labelled ``flotilla.dev/test``, their default ServiceAccount
waited for) and deleted in the background.

The session's ``namespace`` fixture (tests/conftest.py) makes one per test. A stack shared by the
tests of a module (:class:`tests.support.workerstack.SharedStack`) makes them all up front with
:class:`ModuleNamespaces`, since its watcher's ``--namespace`` list is fixed when it starts; each
test still gets its own empty namespace, deleted after it.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client as k8s
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential


def namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{slug}-{secrets.token_hex(3)}"


@retry(
    retry=retry_if_exception(lambda e: isinstance(e, k8s.ApiException) and (e.status or 0) >= 500),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.5, max=5),
    reraise=True,
)
def _create(core: k8s.CoreV1Api, body: k8s.V1Namespace) -> None:
    """Create a namespace, retrying the API server's 5xx answers under heavy load."""
    core.create_namespace(body)


def make_namespace(core: k8s.CoreV1Api, test_name: str) -> str:
    """A fresh namespace named after the test whose default ServiceAccount exists."""
    name = namespace_name(test_name)
    _create(core, k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"flotilla.dev/test": "true"})))
    deadline = time.monotonic() + 60
    while True:
        try:
            core.read_namespaced_service_account("default", name)
            return name
        except k8s.ApiException as err:
            if err.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def delete_namespace(core: k8s.CoreV1Api, name: str) -> None:
    core.delete_namespace(name, propagation_policy="Background")


class ModuleNamespaces:
    """A namespace for each test of a module that ``wants`` one up front, plus ``home`` (for a
    shared watcher's Lease); :meth:`for_test` hands a test its own (or makes one for a test not
    counted), :meth:`close` deletes whatever is left."""

    def __init__(
        self, core: k8s.CoreV1Api, request: pytest.FixtureRequest, wants: Callable[[pytest.Item], bool]
    ):
        self.core = core
        items = [
            i for i in request.session.items if getattr(i, "module", None) is request.module and wants(i)
        ]
        self.home = make_namespace(core, f"{request.module.__name__.rsplit('.', 1)[-1]}-stack")
        self.by_test = {item.nodeid: make_namespace(core, item.name) for item in items}
        self.watched = tuple(self.by_test.values())

    @contextmanager
    def for_test(self, item: pytest.Item) -> Iterator[str]:
        name = self.by_test.pop(item.nodeid, None) or make_namespace(self.core, item.name)
        try:
            yield name
        finally:
            delete_namespace(self.core, name)

    def close(self) -> None:
        for name in [*self.by_test.values(), self.home]:
            try:
                delete_namespace(self.core, name)
            except k8s.ApiException as err:
                if err.status != 404:
                    raise
        self.by_test.clear()
