"""The webhook's SidecarSet cache applies watch events as an informer does (pure part of
webhook/sidecarsetcache.py; the list+watch against the API server is in
tests/integration/webhook/test_webhook_kinds.py)."""

from __future__ import annotations

from typing import Any

import pytest

from flotilla.runtime.errors import Gone, KubeError
from webhook.sidecarsetcache import SidecarSetCache


def _set(name: str, version: str, image: str = "a:1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {"containers": [{"image": image}]},
    }


def test_events_add_replace_delete_and_move_the_resume_version() -> None:
    cache = SidecarSetCache(kube=None)  # type: ignore[arg-type]  # _apply makes no call
    cache._apply({"type": "ADDED", "object": _set("b", "10")})
    cache._apply({"type": "ADDED", "object": _set("a", "11")})
    cache._apply({"type": "MODIFIED", "object": _set("b", "12", image="a:2")})
    assert [(s["metadata"]["name"], s["spec"]["containers"][0]["image"]) for s in cache.items()] == [
        ("a", "a:1"),
        ("b", "a:2"),
    ]
    cache._apply({"type": "DELETED", "object": _set("a", "13")})
    cache._apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}})
    assert [s["metadata"]["name"] for s in cache.items()] == ["b"]
    assert cache._version == "20", "a resumed watch starts after the bookmark"


def test_an_expired_watch_asks_for_a_new_list_and_other_errors_for_a_retry() -> None:
    cache = SidecarSetCache(kube=None)  # type: ignore[arg-type]
    with pytest.raises(Gone):
        cache._apply({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}})
    with pytest.raises(KubeError) as other:
        cache._apply({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd down"}})
    assert not isinstance(other.value, Gone)
    assert not cache.synced, "only a list makes the cache synced"
