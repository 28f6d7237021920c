"""charts/flotilla: every component gets the same stream/bucket replicas (FLOTILLA_BUS_REPLICAS)."""

from __future__ import annotations

import pytest

from tests.unit.helm.chart_render import env_of, pod_specs, render, render_text


def _replicas(values: dict[str, object]) -> set[str]:
    found = set()
    for where, spec in pod_specs(render(values)):
        if where.startswith("Deployment/flotilla-"):  # the components (not the bundled NATS)
            found.add(env_of(spec["containers"][0])["FLOTILLA_BUS_REPLICAS"])
    return found


@pytest.mark.parametrize(
    ("values", "replicas"),
    [
        ({}, "1"),  # an existing NATS of unknown size: R1 unless told
        ({"natsServer.enabled": True}, "1"),  # the bundled single server
        ({"natsServer.enabled": True, "natsServer.replicas": 3}, "3"),  # the bundled 3-node cluster
        ({"busReplicas": 3}, "3"),  # an existing 3-node cluster, said so
        ({"natsServer.enabled": True, "natsServer.replicas": 3, "busReplicas": 1}, "1"),
    ],
)
def test_bus_replicas_follow_the_bundled_nats_unless_set(values: dict[str, object], replicas: str) -> None:
    assert _replicas(values) == {replicas}


def test_bus_replicas_above_what_jetstream_keeps_are_refused() -> None:
    result = render_text({"busReplicas": 7}, check=False)
    assert result.returncode != 0
    assert "at '/busReplicas': maximum: got 7, want 5" in result.stderr
