"""kruise v1.9.1's own CloneSet e2e specs on Flotilla: none may fail that kruise-manager passes.

Runs test/e2e/apps/v1alpha1/cloneset.go from kruise's e2e binary (`make conformance`'s
runner, its own control plane: hostPath provisioner, kwok containerIDs) against Flotilla and
compares each spec with the recorded kruise-manager baseline
(docs/conformance/kruise-v1.9.1-cloneset.json, from `make conformance BASELINE=kruise` on
the same kind of control plane). A spec that passes on kruise-manager and fails on Flotilla
is a Flotilla defect; the failure lists every one with Flotilla's failure message. Only the
specs the baseline passes run (ginkgo ``--focus`` on their names): a spec that fails on
kruise-manager too is an environment limit and holds Flotilla to nothing here, and those specs
spend minutes waiting for their timeouts (`make conformance` still runs all of them and records
the table). Takes about as long as the slowest specs (ginkgo runs them in parallel processes).
"""

from __future__ import annotations

import re

import pytest

from flotilla.conformance.results import PASSED, RunResult, compare, defects
from flotilla.conformance.run import DEFAULT_PROCS, FLOTILLA, baseline_path, run_specs
from flotilla.conformance.specs import spec_files
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.toolchain import ToolchainError


def _indent(message: str) -> str:
    return message.strip()[:1500].replace("\n", "\n    ")


def only(names: list[str]) -> str:
    """A ginkgo --focus expression matching exactly the specs of these full names (ginkgo matches
    it against the suite's description, a space, then the spec's full text)."""
    return "|".join(f" {re.escape(name)}$" for name in names)


@pytest.mark.timeout(3000)
def test_every_cloneset_spec_kruise_passes_passes_on_flotilla() -> None:
    files = spec_files(["CloneSet"])
    baseline = RunResult.load(baseline_path(files))
    kruise_passes = [spec.name for spec in baseline.specs if spec.state == PASSED]
    assert kruise_passes, (
        f"the recorded baseline {baseline_path(files)} has no passing spec to hold Flotilla to"
    )
    try:
        result = run_specs(FLOTILLA, files, DEFAULT_PROCS, focus=only(kruise_passes))
    except (ComponentError, ToolchainError) as err:
        pytest.fail(f"the conformance run did not complete: {err}", pytrace=False)
    ran = {spec.name for spec in result.specs}
    missing = [name for name in kruise_passes if name not in ran]
    assert not missing, f"specs of the baseline that ginkgo did not run on Flotilla: {missing}"
    found = defects(compare(baseline, result))
    listing = "\n".join(f"- {row.name} ({row.file}:{row.line})\n    {_indent(row.detail)}" for row in found)
    assert not found, (
        f"{len(found)} of kruise's CloneSet specs pass on kruise-manager {baseline.kruise_version} "
        f"and fail on Flotilla ({result.summary()} on Flotilla, {baseline.summary()} on kruise-manager):\n"
        + listing
    )
