"""Every manifest in examples/ parses into its model and comes back out unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.kruise.registry import ALL_RESOURCES, resource_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_every_kind_has_an_example() -> None:
    kinds = {(_load(p)["apiVersion"].split("/")[0], _load(p)["kind"]) for p in VALID}
    assert kinds == {(r.info.group, r.info.kind) for r in ALL_RESOURCES}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_example_round_trips_through_its_model(path: Path) -> None:
    manifest = _load(path)
    model = resource_for(manifest["apiVersion"], manifest["kind"])
    parsed = model.from_wire(manifest)
    assert parsed.to_wire(exclude_unset=True) == manifest
    # and once more from the full dump (defaults filled in) to the same object
    assert model.from_wire(parsed.to_wire()) == parsed


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_says_what_the_user_will_read(path: Path) -> None:
    manifest = _load(path)
    assert manifest["metadata"]["annotations"]["flotilla.dev/expected-error"]
    resource_for(manifest["apiVersion"], manifest["kind"])  # a kind we serve
