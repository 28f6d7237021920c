"""The worker defends itself: with kruise's own CloneSet CRD (no CEL, no defaults) and no admission
webhook, a spec kruise's webhook would refuse is stored; the worker reports it (condition + Event
with kruise's message) and writes nothing to pods.

The module swaps the session's CloneSet CRD for kruise v1.9.1's (``config/crd/bases``, as
``make conformance BASELINE=kruise`` installs it) and puts Flotilla's back afterwards, waiting each
time until the API server serves the new schema.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from flotilla.conformance.kruise_manager import crd_manifests
from flotilla.conformance.specs import kruise_source
from flotilla.runtime.kube import EVENTS
from schemas.crdgen.install import load_crds
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import (
    cloneset,
    eventually,
    manifest,
    patch_spec,
    pods,
    status_is,
)
from workers.cloneset.lowering import CLONESETS

CRD_NAME = "clonesets.apps.kruise.io"


def _replace_crd(api_client: k8s.ApiClient, crd: dict[str, Any]) -> None:
    """PUT the whole CRD (an apply would keep the fields Flotilla's field manager owns)."""
    api = k8s.ApiextensionsV1Api(api_client)
    current = api.read_custom_resource_definition(CRD_NAME, _preload_content=False)
    version = json.loads(current.data)["metadata"]["resourceVersion"]  # type: ignore[attr-defined]
    body = {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}}
    api.replace_custom_resource_definition(CRD_NAME, body)  # type: ignore[arg-type]


def _probe_refused(api_client: k8s.ApiClient) -> str | None:
    """A dry-run create with ``maxSurge: "5"`` in the default namespace: refused by Flotilla's CEL only.
    (``replicas: -1`` is refused by every CRD with a scale subresource: "should be a non-negative
    integer".)"""
    body = manifest("default", 1, strategy={"maxSurge": "5"})
    body["metadata"] = {"name": "schema-probe"}
    try:
        k8s.CustomObjectsApi(api_client).create_namespaced_custom_object(
            "apps.kruise.io", "v1alpha1", "default", "clonesets", body, dry_run="All"
        )
    except ApiException as err:
        if err.status == 422:
            return str(err.body)
        raise
    return None


def _wait_schema(api_client: k8s.ApiClient, refused: bool) -> None:
    deadline = time.monotonic() + 60
    while True:
        refusal = _probe_refused(api_client)
        if (refusal is not None) == refused:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the API server did not switch the CloneSet schema (CEL refusing: {refusal})"
            )
        time.sleep(0.5)


@pytest.fixture(scope="module")
def kruise_cloneset_crd(kruise_crds: list[str], api_client: k8s.ApiClient) -> Iterator[None]:
    [kruise] = [c for c in crd_manifests(kruise_source()) if c["metadata"]["name"] == CRD_NAME]
    [ours] = [c for c in load_crds() if c["metadata"]["name"] == CRD_NAME]
    _replace_crd(api_client, kruise)
    _wait_schema(api_client, refused=False)
    try:
        yield
    finally:
        _replace_crd(api_client, ours)
        _wait_schema(api_client, refused=True)


async def _condition(stack: Stack, kind: str) -> dict[str, Any] | None:
    conditions = ((await cloneset(stack)).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind and c["status"] == "True"), None)


async def _pod_versions(stack: Stack) -> dict[str, str]:
    return {p["metadata"]["uid"]: p["metadata"]["resourceVersion"] for p in await pods(stack)}


async def _refused(stack: Stack, spec: dict[str, Any], kind: str, text: str, before: dict[str, str]) -> None:
    await patch_spec(stack, spec)

    async def reported() -> bool:
        found = await _condition(stack, kind)
        return found is not None and text in found.get("message", "")

    await eventually(reported, 60, f"{kind} condition saying {text!r}")
    events = (await stack.api.get(EVENTS.path(stack.namespace))).get("items", [])
    assert any(e["reason"] == kind and text in e["message"] for e in events)
    await asyncio.sleep(3)  # a few more reconciles (the resync is 20 s; status writes trigger more)
    assert await _pod_versions(stack) == before, "pods were written while the spec was invalid"


async def test_invalid_specs_get_condition_and_event_and_no_pod_writes(
    kruise_cloneset_crd: None, cloneset_stack: Stack
) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 2, strategy={"type": "ReCreate", "maxUnavailable": 1})
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=2, labelSelector="app=web"), 90, "2 ready")
    before = await _pod_versions(stack)

    # kruise validation.go validateScaleStrategy: "duplicated items %v"
    victim = (await pods(stack))[0]["metadata"]["name"]
    twice = {"scaleStrategy": {"podsToDelete": [victim, victim]}}
    await _refused(stack, twice, "FailedScale", f"duplicated items [{victim}]", before)
    await patch_spec(stack, {"scaleStrategy": {"podsToDelete": None}})
    await eventually(lambda: _condition_gone(stack, "FailedScale"), 60, "FailedScale resolved")

    # "maxUnavailable and maxSurge should not both be less than 1"
    both_zero = {"updateStrategy": {"maxUnavailable": 0, "maxSurge": 0}}
    await _refused(stack, both_zero, "FailedUpdate", "should not both be less than 1", before)
    await patch_spec(stack, {"updateStrategy": {"maxUnavailable": 1}})

    # a selector change (kruise: "updates to cloneset spec for fields other than ... are forbidden")
    # with a template that matches it: acting on it would release both pods and create two new ones.
    moved = {
        "selector": {"matchLabels": {"app": "web", "track": "b"}},
        "template": {"metadata": {"labels": {"app": "web", "track": "b"}}},
    }
    await _refused(stack, moved, "FailedScale", "are forbidden", before)


async def _condition_gone(stack: Stack, kind: str) -> bool:
    return await _condition(stack, kind) is None
