"""``without_managed_fields`` (workers/runtime/observe.py): what a reconcile keeps of an object it
read. A pod as the API server returns it after an in-place update (managers written out by hand)
loses exactly ``metadata.managedFields``; everything a planner reads is kept unchanged."""

from __future__ import annotations

import copy
from typing import Any

from workers.runtime.observe import without_managed_fields

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-abcde",
        "namespace": "default",
        "uid": "5b0c",
        "resourceVersion": "812",
        "labels": {"app": "web", "lifecycle.apps.kruise.io/state": "Normal"},
        "annotations": {"apps.kruise.io/inplace-update-state": "{}"},
        "ownerReferences": [{"kind": "CloneSet", "name": "web", "uid": "77aa", "controller": True}],
        "managedFields": [
            {
                "manager": "flotilla-cloneset",
                "operation": "Update",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}},
            },
            {
                "manager": "kwok",
                "operation": "Update",
                "subresource": "status",
                "fieldsV1": {"f:status": {"f:conditions": {}}},
            },
        ],
    },
    "spec": {"containers": [{"name": "main", "image": "nginx:2"}]},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


def test_drops_only_managed_fields() -> None:
    pod = copy.deepcopy(POD)
    slim = without_managed_fields(pod)
    expected = copy.deepcopy(POD)
    del expected["metadata"]["managedFields"]
    assert slim == expected
    assert slim is pod  # in place: nothing is copied


def test_objects_without_them_are_unchanged() -> None:
    for obj in ({"metadata": {"name": "a"}}, {"kind": "Status"}, {"metadata": None}, {}):
        before = copy.deepcopy(obj)
        assert without_managed_fields(obj) == before
