"""kruise's own e2e specs as Flotilla's yardstick (`make conformance`).

`specs.py` names the spec files of the kinds Flotilla implements; `kruise_manager.py` sets
up kruise-manager v1.9.1 out of cluster (the baseline); `run.py` brings up the dev control
plane with Flotilla or kruise-manager and runs kruise's e2e binary on them through ginkgo;
`results.py` reads ginkgo's JSON report and puts two runs side by side.
"""
