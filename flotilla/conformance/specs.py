"""Which of kruise's e2e spec files `make conformance` runs: one line per implemented kind.

Paths are relative to the kruise module (github.com/openkruise/kruise at
`versions.KRUISE`); ginkgo selects the specs with ``--focus-file`` on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flotilla.devcluster import versions
from flotilla.devcluster.toolchain import cache_root


@dataclass(frozen=True)
class SpecFile:
    kind: str
    path: str


#: The spec files of every kind Flotilla implements. A new kind is one more line.
SPEC_FILES: tuple[SpecFile, ...] = (
    SpecFile("CloneSet", "test/e2e/apps/v1alpha1/cloneset.go"),
    SpecFile("StatefulSet", "test/e2e/apps/v1beta1/statefulset.go"),
    SpecFile("DeletionProtection", "test/e2e/policy/v1alpha1/deletionprotection.go"),
)


def spec_files(kinds: list[str] | None = None) -> tuple[SpecFile, ...]:
    """The spec files of `kinds` (case-insensitive), or all of them."""
    if not kinds:
        return SPEC_FILES
    wanted = {kind.lower() for kind in kinds}
    chosen = tuple(spec for spec in SPEC_FILES if spec.kind.lower() in wanted)
    unknown = wanted - {spec.kind.lower() for spec in chosen}
    if unknown:
        known = ", ".join(spec.kind for spec in SPEC_FILES)
        raise ValueError(f"no conformance spec file for {', '.join(sorted(unknown))} (known: {known})")
    return chosen


def kruise_source() -> Path:
    """The unpacked kruise module in the Go module cache (the kruise build downloads it)."""
    return cache_root() / "go" / "mod" / "github.com" / "openkruise" / f"kruise@{versions.KRUISE}"
