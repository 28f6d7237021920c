"""LocalKeys: the per-process table of keys being reconciled and their held triggers (pure)."""

from __future__ import annotations

import pytest

from workers.runtime.lease import LocalKeys


def test_a_key_is_claimed_once_until_released() -> None:
    keys: LocalKeys[str] = LocalKeys()
    assert keys.claim("t/ns/a")
    assert not keys.claim("t/ns/a")
    assert keys.claim("t/ns/b")
    assert "t/ns/a" in keys
    assert len(keys) == 2
    assert keys.release("t/ns/a") is None
    assert "t/ns/a" not in keys
    assert keys.claim("t/ns/a")


def test_the_newest_held_trigger_stands_for_the_older_ones() -> None:
    keys: LocalKeys[str] = LocalKeys()
    keys.claim("k")
    assert keys.hold("k", "m2") is None
    assert keys.hold("k", "m3") == "m2"  # the caller acks m2 at once
    assert keys.hold("k", "m4") == "m3"
    assert keys.held("k") == "m4"  # looked at (in-progress acks), left in place
    assert keys.take_held("k") == "m4"
    assert keys.take_held("k") is None
    assert "k" in keys  # still claimed: the follow-up reconcile runs under the same claim


def test_walking_a_burst_of_triggers_through_two_reconciles() -> None:
    keys: LocalKeys[str] = LocalKeys()
    superseded: list[str] = []
    assert keys.claim("k")  # m1 starts reconciling
    for message in ("m2", "m3", "m4"):  # arrive while m1 runs
        older = keys.hold("k", message)
        if older is not None:
            superseded.append(older)
    assert superseded == ["m2", "m3"]
    follow_up = keys.take_held("k")  # m1 ended: reconcile again for m4
    assert follow_up == "m4"
    assert keys.hold("k", "m5") is None  # arrives during the follow-up
    assert keys.take_held("k") == "m5"  # a third reconcile
    assert keys.take_held("k") is None  # nothing came meanwhile: done
    assert keys.release("k") is None


def test_release_returns_a_trigger_still_held_to_hand_back() -> None:
    keys: LocalKeys[str] = LocalKeys()
    keys.claim("k")
    keys.hold("k", "m2")
    assert keys.release("k") == "m2"  # lease lost or shutdown: the caller naks it
    assert "k" not in keys
    assert keys.release("k") is None
    assert keys.take_held("k") is None
    assert keys.held("k") is None


def test_holding_for_an_unclaimed_key_is_a_bug() -> None:
    keys: LocalKeys[str] = LocalKeys()
    with pytest.raises(KeyError):
        keys.hold("k", "m1")
