# Flotilla: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV  := .venv/bin
export UV_PYTHON := $(CURDIR)/.venv/bin/python

.PHONY: demo test soak faults bootstrap tools lint typecheck unit integration down status crds bench bench-bus bench-watcher bench-cloneset bench-cloneset-quick bench-cloneset-reads bench-scale bench-scale-quick bench-asts bench-asts-quick bench-broadcastjob bench-broadcastjob-quick bench-sidecarset bench-sidecarset-quick bench-webhook bench-inplace-real conformance conformance-realnode image test-realnode-chart clean

bootstrap:
	@scripts/bootstrap.sh

## Build (once) or find the control plane binaries, Helm and Jaeger.
tools: bootstrap
	@$(VENV)/flotilla dev tools

## Bring up the local control plane, NATS and Flotilla with a sample workload.
## REAL_NODE=1 adds the real node (root; docs/realnode.md) and shows a ContainerRecreateRequest on it.
demo: tools
	@$(VENV)/flotilla dev up $(if $(REAL_NODE),--real-node)

down:
	@$(VENV)/flotilla dev down

status:
	@$(VENV)/flotilla dev status

lint: bootstrap
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/flotilla crds check

## Regenerate charts/flotilla/crds/ from the models in schemas/kruise/.
crds: bootstrap
	$(VENV)/flotilla crds generate

typecheck: bootstrap
	$(VENV)/mypy

unit: bootstrap
	$(VENV)/pytest -m unit

## The whole suite: lint, types, unit and integration tests on a real control plane and NATS.
test: tools lint typecheck
	@scripts/run-tests.sh

## Flotilla's image built on this machine (Debian mirror + PyPI only), cached by content: docs/deploy.md.
image: tools
	$(VENV)/python -m flotilla.devcluster.image

## The chart's watcher, CloneSet worker and node agent as real pods on the real node (builds the
## image first; minutes when cold, so not in `make test`).
test-realnode-chart: tools
	FLOTILLA_REALNODE_CHART=1 $(VENV)/pytest -p no:cacheprovider tests/integration/realnode/test_realnode_chart.py

## kruise v1.9.1's own e2e specs of the implemented kinds against Flotilla (docs/conformance.md);
## BASELINE=kruise runs them against kruise-manager v1.9.1 and records docs/conformance/kruise-*.json.
## FOCUS=<regex> runs a subset; REPEAT=N runs them N times on one control plane (how often each passed).
conformance: tools
	@$(VENV)/python -m flotilla.conformance run $(if $(BASELINE),--baseline $(BASELINE)) $(if $(KINDS),--kinds $(KINDS)) $(if $(FOCUS),--focus '$(FOCUS)') $(if $(PROCS),--procs $(PROCS)) $(if $(REPEAT),--repeat $(REPEAT))

## kruise v1.9.1's node-side specs (containerrecreate.go, pullimages.go, imagelistpulljobs.go) on a
## real node (containerd + kubelet; root) with Flotilla's workers and node agent; BASELINE=kruise
## runs kruise-manager + kruise-daemon instead (docs/conformance.md). Not in `make test`.
conformance-realnode: tools
	@$(VENV)/python -m flotilla.conformance run --real-node $(if $(BASELINE),--baseline $(BASELINE)) $(if $(KINDS),--kinds $(KINDS)) $(if $(FOCUS),--focus '$(FOCUS)') $(if $(PROCS),--procs $(PROCS))

## CloneSets under churn while every component is killed at random (SOAK_MINUTES, default 30;
## FLOTILLA_FAULT_SEED replays a run). Prints the faults, checks and violations; fails on any.
## CloneSets rolled by 3 worker replicas while replicas, NATS, kube-apiserver and etcd are killed,
## plus the soak for SOAK_MINUTES (3 unless set): the two of `make test` alone, on their own
## control plane (FLOTILLA_FAULT_SEED replays a run).
faults: tools
	$(VENV)/pytest -p no:cacheprovider tests/faults/test_cloneset_faults.py tests/faults/test_soak.py

soak: tools
	SOAK_MINUTES=$${SOAK_MINUTES:-30} $(VENV)/python -m tests.support.soak

## Benchmarks (numbers and how to read them: docs/benchmarks.md).
bench-bus: tools
	$(VENV)/python -m benchmarks.bus_bench all --repeats 2

bench-watcher: tools
	$(VENV)/python -m benchmarks.watcher_bench

bench-cloneset: tools
	$(VENV)/python -m benchmarks.cloneset

bench-cloneset-quick: tools
	$(VENV)/python -m benchmarks.cloneset --quick

## What one CloneSet reconcile reads with 1 vs 20 CloneSets in its namespace (counts, not times).
bench-cloneset-reads: tools
	$(VENV)/python -m benchmarks.cloneset_reads

## 100 CloneSets x 100 pods in one namespace on 20 kwok nodes: worker replicas, restarts, memory,
## idle cost, reads, with kruise-manager side by side (docs/benchmarks.md); -quick: 10 x 20, 4 nodes.
bench-scale: tools
	$(VENV)/python -m benchmarks.scale

bench-scale-quick: tools
	$(VENV)/python -m benchmarks.scale --quick

## The Advanced StatefulSet worker vs the built-in StatefulSet (docs/benchmarks.md); -quick: small N, 1 repeat.
bench-asts: tools
	$(VENV)/python -m benchmarks.statefulset

bench-asts-quick: tools
	$(VENV)/python -m benchmarks.statefulset --quick

## The CloneSet planner alone, in memory; BASELINE=<rev> compares a git revision side by side.
bench-cloneset-plan: tools
	$(VENV)/python -m benchmarks.cloneset_plan $(if $(BASELINE),--baseline $(BASELINE))

## A BroadcastJob over N kwok nodes (NODES, default 200) to completion vs a DaemonSet on them.
bench-broadcastjob: tools
	$(VENV)/python -m benchmarks.broadcastjob $(if $(NODES),--nodes $(NODES))

bench-broadcastjob-quick: tools
	$(VENV)/python -m benchmarks.broadcastjob --quick

## A sidecar image upgrade of 1000 pods: SidecarSet in place vs the Deployment's rolling update (docs/benchmarks.md); -quick: 50 pods, 1 repeat.
bench-sidecarset: tools
	$(VENV)/python -m benchmarks.sidecarset $(if $(PODS),--pods $(PODS))

bench-sidecarset-quick: tools
	$(VENV)/python -m benchmarks.sidecarset --quick

## Admission latency at the API server under ~200 pod creates/s, and 0 -> 1000 CloneSet pods with
## the webhook on vs off (QUICK=1: 3 s of creates and 200 pods once).
bench-webhook: tools
	$(VENV)/python -m benchmarks.webhook $(if $(QUICK),--quick)

## On the real node (root; queue: flock /tmp/flotilla-realnode.queue make bench-inplace-real): an image
## update of 20 CloneSet pods, in place (with and without pre-download) vs recreate (docs/benchmarks.md);
## CONTROLLER=kruise: the same on kruise-manager + kruise-daemon.
bench-inplace-real: tools
	$(VENV)/python -m benchmarks.inplace_real $(if $(PODS),--pods $(PODS)) $(if $(CONTROLLER),--controller $(CONTROLLER))

## Every benchmark (long: the CloneSet one alone takes tens of minutes on 2 cores).
bench: bench-bus bench-watcher bench-cloneset

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
