"""The pre-download rules both kruise workloads share (``workers.podmechanics.predownload``).

Expected values are worked out by hand from kruise v1.9.1's ``imagejob/utilfunction``
(``CreateJobForWorkload``: ``strconv.ParseInt(s, 10, 32)`` for the timeout, ``strconv.Atoi`` then
``intstr.FromInt`` for the parallelism), the workloads' ``doPreDownload`` (``intstr.Parse`` and
``GetScaledValueFromIntOrPercent`` rounding up for min-updated-ready-pods) and
``diffImagesBetweenRevisions``; the whole-plan behaviour is tested through each workload
(``tests/unit/cloneset/test_cloneset_predownload.py``,
``tests/unit/statefulset/test_statefulset_predownload.py``).
"""

from __future__ import annotations

import pytest

from workers.podmechanics.predownload import (
    changed_images,
    min_updated_ready_pods,
    one_batch_reason,
    parallelism,
    replicas_reason,
    timeout_seconds,
)

PAR = "apps.kruise.io/image-predownload-parallelism"
TIMEOUT = "apps.kruise.io/image-predownload-timeout-seconds"
MIN_READY = "apps.kruise.io/image-predownload-min-updated-ready-pods"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 1),
        ("3", 3),
        ("+3", 3),  # Atoi takes a sign
        ("-1", -1),
        ("3.0", 1),
        (" 3", 1),
        ("4294967298", 2),  # fits an int, FromInt keeps its low 32 bits
    ],
)
def test_parallelism(value: str | None, expected: int) -> None:
    assert parallelism({} if value is None else {PAR: value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 300), ("60", 60), ("-5", -5), ("2147483647", 2147483647), ("2147483648", 300), ("1m", 300)],
)
def test_timeout_seconds(value: str | None, expected: int) -> None:
    assert timeout_seconds({} if value is None else {TIMEOUT: value}) == expected


@pytest.mark.parametrize(
    ("value", "replicas", "expected"),
    [
        (None, 5, 0),
        ("2", 5, 2),
        ("50%", 5, 3),  # 2.5 rounded up
        ("40%", 5, 2),
        ("100%", 7, 7),
        ("abc", 5, 0),  # not a percentage: kruise logs the error, goes on with 0
        ("", 5, 0),
    ],
)
def test_min_updated_ready_pods(value: str | None, replicas: int, expected: int) -> None:
    assert min_updated_ready_pods({} if value is None else {MIN_READY: value}, replicas) == expected


def test_too_few_replicas_and_one_batch() -> None:
    assert replicas_reason(3) == "replicas 3 <= 3"
    assert replicas_reason(4) is None
    assert one_batch_reason(4, 0, 4) == "all pods update in one batch"
    assert one_batch_reason(4, 0, 3) is None
    assert one_batch_reason(4, 1, 4) is None  # a partition keeps one back


def test_changed_images() -> None:
    old = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    new = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x:1"},  # unchanged
                {"name": "b", "image": "y:2"},  # changed
                {"name": "c", "image": "z:1"},  # new container: pulled too
            ]
        }
    }
    assert changed_images(old, new) == {"b": "y:2", "c": "z:1"}
    # back again: b's old image; the removed container c pulls nothing
    assert changed_images(new, old) == {"b": "y:1"}
