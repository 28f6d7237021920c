"""`python -m flotilla.conformance run|report`: kruise's e2e specs against Flotilla or kruise-manager.

``run`` starts the dev control plane (the launcher the tests use, plus the hostPath provisioner with
a default StorageClass and kwok containerIDs), installs Flotilla (its CRDs, the watcher and the
workers of the kinds being run plus CloneSet's, as `flotilla dev up` does) or, with ``--baseline
kruise``, kruise-manager v1.9.1 (`kruise_manager.py`); then runs kruise's e2e test binary through
the ginkgo CLI, focused on the spec files of `specs.SPEC_FILES`, in parallel processes, with a JSON
report. It prints one line per spec and ``N passed, M failed``, records the result as JSON, and, for
a Flotilla run with a recorded baseline, the side-by-side verdicts; the exit code is 1 when a spec
passes on kruise-manager and fails on Flotilla.
With ``--real-node`` (`make conformance-realnode`) it runs the node-side spec files
(`specs.REALNODE_SPEC_FILES`) on a real node instead of kwok nodes, with kruise-daemon (baseline)
or ``flotilla node-agent`` as the node's half (`realnode.py`).
``report`` puts two recorded results side by side (``--markdown`` for docs/conformance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flotilla.conformance import kruise_manager
from flotilla.conformance import realnode as realnode_mode
from flotilla.conformance.results import (
    SKIPPED,
    RunResult,
    SpecResult,
    compare,
    defects,
    from_ginkgo_report,
    markdown_table,
    tally,
    text_report,
)
from flotilla.conformance.specs import SpecFile, kruise_source, node_names, spec_files, worker_types
from flotilla.devcluster import versions
from flotilla.devcluster.cluster import ClusterConfig
from flotilla.devcluster.demo import start_flotilla
from flotilla.devcluster.env import DevEnvironment, new_run_dir
from flotilla.devcluster.kwok_nodes import node_manifest, node_ready, owned_pod_complete_stage
from flotilla.devcluster.ports import LOOPBACK
from flotilla.devcluster.process import ComponentError, unwind_on_sigterm
from flotilla.devcluster.realnode import RealNode
from flotilla.devcluster.toolchain import ToolchainError, ensure_binaries
from flotilla.runtime.features import FEATURE_GATES_ENV

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "docs" / "conformance"
FLOTILLA = "flotilla"
KRUISE = "kruise"

#: Parallel ginkgo processes: the specs mostly wait on the cluster, so more than the 2 cores.
DEFAULT_PROCS = 4
#: ginkgo's whole-suite timeout.
SUITE_TIMEOUT = "45m"


def _say(message: str) -> None:
    print(f"[conformance] {message}", file=sys.stderr, flush=True)


def _kinds(files: Sequence[SpecFile]) -> str:
    # a kind with several spec files (v1alpha1 and v1beta1) is named once
    return "-".join(dict.fromkeys(spec.kind.lower() for spec in files))


def _record_name(files: Sequence[SpecFile], realnode: bool) -> str:
    # a kind run both on kwok and on the real node (CloneSet) keeps its real-node records apart
    suffix = "-realnode" if realnode and "CloneSet" in {spec.kind for spec in files} else ""
    return f"{_kinds(files)}{suffix}"


def baseline_path(files: Sequence[SpecFile], realnode: bool = False) -> Path:
    """Where the kruise-manager result for these spec files is recorded."""
    return RECORDED / f"kruise-{versions.KRUISE}-{_record_name(files, realnode)}.json"


def _commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


#: kruise's BroadcastJob specs run containers that exit (``sleep 5``, ``echo``) and wait for the
#: job's pods to succeed; kwok plays that exit for a BroadcastJob's pods as it does for a Job's.
CONFORMANCE_STAGES = (owned_pod_complete_stage("conformance-broadcastjob-pod-complete", "BroadcastJob"),)


#: The StorageClasses kruise's VolumeExpansion specs name (its CI installs them with the CSI
#: hostpath driver, tools/hack/csi-driver-host-path/{allow,disallow}-expansion-sc.yaml). Here
#: they name kube-controller-manager's in-tree hostPath provisioner, the only one on this control
#: plane: PVCs bind and the webhooks' storage-class checks run, but no resizer exists (the in-tree
#: hostPath plugin cannot expand, and there is no CSI driver, external-resizer or kubelet), so a
#: resize is accepted and never reaches the PVC's ``status.capacity``.
EXPANSION_STORAGE_CLASSES = (("allow-volume-expansion", True), ("disallow-volume-expansion", False))


def _create_expansion_storage_classes(env: DevEnvironment) -> None:
    assert env.cluster is not None
    for name, expandable in EXPANSION_STORAGE_CLASSES:
        body = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": expandable,
        }
        env.cluster.api_request("POST", "/apis/storage.k8s.io/v1/storageclasses", body)


def cluster_config(run_dir: Path, realnode: bool = False) -> ClusterConfig:
    """The control plane both sides run on (no kwok node in a real-node run: the real node is
    the only one, so the specs' pods run in real containers)."""
    return ClusterConfig(
        run_dir=run_dir,
        nodes=0 if realnode else 3,
        hostpath_provisioner=True,
        container_ids=True,
        kwok_stages=CONFORMANCE_STAGES,
    )


def ginkgo_command(
    ginkgo: Path,
    e2e: Path,
    files: Sequence[SpecFile],
    procs: int,
    report: Path,
    focus: str | None = None,
) -> list[str]:
    """The ginkgo CLI call; `focus` (a regular expression on the spec's full text) narrows the
    spec files to a subset, as ginkgo's own ``--focus`` does."""
    return [
        str(ginkgo),
        "run",
        f"--procs={procs}",
        *(f"--focus-file={spec.focus_file}" for spec in files),
        *([f"--focus={focus}"] if focus else []),
        f"--json-report={report.name}",
        f"--output-dir={report.parent}",
        f"--timeout={SUITE_TIMEOUT}",
        "--no-color",
        "-v",
        str(e2e),
    ]


def add_named_nodes(env: DevEnvironment, names: Sequence[str]) -> None:
    """Add kwok nodes the specs expect by name (`specs.NODE_NAMES`) and wait until they are Ready."""
    cluster = env.cluster
    if cluster is None or not names:
        return
    config = cluster.config
    for name in names:
        manifest = node_manifest(0, config.zones[0], config.pods_per_node, name)
        cluster.api_request("POST", "/api/v1/nodes", manifest)

    def ready() -> bool:
        nodes = json.loads(cluster.api_get("/api/v1/nodes"))["items"]
        return {n["metadata"]["name"] for n in nodes if node_ready(n)} >= set(names)

    cluster.processes["kwok"].wait_until(ready, 60, f"running the nodes {', '.join(names)} Ready")


def _run_ginkgo(
    cmd: list[str], run_dir: Path, env: dict[str, str], log: Path, report: Path, started: float
) -> None:
    """Run one ginkgo call to its end (a stopped run stops ginkgo and its spec processes too)."""
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=out, stderr=out)
        try:
            while process.poll() is None:
                time.sleep(5)
                if int(time.monotonic() - started) % 120 < 5:
                    _say(f"  ginkgo running, {time.monotonic() - started:.0f}s (log: {log})")
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
    if not report.exists():
        raise ComponentError(f"ginkgo wrote no report (exit {process.returncode}); log: {log}")


def run_specs(
    target: str,
    files: Sequence[SpecFile],
    procs: int,
    run_dir: Path | None = None,
    focus: str | None = None,
    realnode: bool = False,
    repeat: int = 1,
) -> RunResult:
    """Bring up a control plane with `target` (flotilla | kruise), run the specs, tear it down;
    with `realnode`, on a real node with kruise-daemon or Flotilla's node agent for it. With
    `repeat` > 1 the specs run that many times on the one control plane, one after the other;
    the result then holds every round's specs (``N passed, M failed`` over all rounds)."""
    names = ["kruise-e2e.test", "ginkgo", *(["kruise-manager"] if target == KRUISE else [])]
    names += ["kruise-daemon"] if realnode and target == KRUISE else []
    binaries = ensure_binaries(names)
    commit = _commit()  # the code under test: the workers start from the tree as it is now
    run_dir = run_dir or new_run_dir(f"conformance-{target}{'-realnode' if realnode else ''}")
    _say(f"{target}: starting the control plane in {run_dir}")
    started = time.monotonic()
    ginkgo_env = dict(os.environ)
    # torn down in reverse: the node's half, the real node (its pods first), the control plane
    cleanup = contextlib.ExitStack()
    env = DevEnvironment.start_local(cluster_config(run_dir, realnode))
    cleanup.callback(env.stop)
    node: RealNode | None = None
    try:
        if realnode:
            node = realnode_mode.start_node(env)
            cleanup.callback(node.stop)
            repo_list = run_dir / "kube-test-repo-list.yaml"
            repo_list.write_text(realnode_mode.repo_list(f"{LOOPBACK}:{node.registry_port}"))
            ginkgo_env["KUBE_TEST_REPO_LIST"] = str(repo_list)
            _say(f"real node {node.name} Ready in {node.startup_seconds:.0f}s; e2e images in its registry")
        else:
            _create_expansion_storage_classes(env)
            add_named_nodes(env, node_names(files))
        if target == KRUISE:
            kruise_manager.start(env, binaries["kruise-manager"], kruise_source())
            label = f"kruise-manager {versions.KRUISE}"
            if node is not None:
                cleanup.enter_context(realnode_mode.runtime_socket_link(realnode_mode.socket_path()))
                daemon = realnode_mode.start_kruise_daemon(env, binaries["kruise-daemon"], node.name)
                cleanup.callback(daemon.stop)
                label += " + kruise-daemon (real node)"
        else:
            workers = worker_types(files)
            if node is not None:
                # kruise-manager always runs its container-launch-priority controller; on real
                # containers a prioritized pod (the webhook injects its barrier env) needs it
                workers = (*workers, "containerlaunchpriority")
            # FLOTILLA_CONFORMANCE_GATES: more gates for Flotilla's side, appended (a diagnostic run)
            more = os.environ.get("FLOTILLA_CONFORMANCE_GATES", "")
            gates = ",".join(g for g in (kruise_manager.E2E_FEATURE_GATES, more) if g)
            extra = {FEATURE_GATES_ENV: gates}
            if "sidecarset" in workers:
                # kruise's e2e lists a SidecarSet's ControllerRevisions in kruise's namespace
                # (webhookutil.GetNamespace(): POD_NAMESPACE or kruise-system); the worker keeps
                # them in its POD_NAMESPACE (the watcher and webhook get theirs as arguments)
                env.kubectl("create", "namespace", kruise_manager.NAMESPACE, check=False)
                extra["POD_NAMESPACE"] = kruise_manager.NAMESPACE
            start_flotilla(
                env,
                extra,
                sample=False,
                detached=False,
                worker_types=workers,
                webhook=True,  # as kruise-manager: its webhooks are registered while the specs run
            )
            label = "flotilla"
            _say(f"flotilla workers: {', '.join(workers)}")
            if node is not None:
                agent = realnode_mode.start_node_agent(env, node.name, extra)
                cleanup.callback(agent.stop)
                label += " + node agent (real node)"
        if node is not None and {spec.kind for spec in files} & realnode_mode.NODE_IMAGE_KINDS:
            realnode_mode.wait_node_image(env, node.name)
        subset = f" (focus {focus!r})" if focus else ""
        _say(
            f"{label} is up; running {', '.join(s.path for s in files)}{subset} with {procs} ginkgo processes"
        )
        specs: list[SpecResult] = []
        for round_no in range(1, repeat + 1):
            if repeat > 1:
                _say(f"round {round_no} of {repeat}")
            suffix = "" if round_no == 1 else f"-{round_no}"
            report = run_dir / f"ginkgo-report{suffix}.json"
            log = run_dir / "logs" / f"ginkgo{suffix}.log"
            cmd = ginkgo_command(binaries["ginkgo"], binaries["kruise-e2e.test"], files, procs, report, focus)
            _run_ginkgo(cmd, run_dir, {**ginkgo_env, "KUBECONFIG": str(env.kubeconfig)}, log, report, started)
            found = from_ginkgo_report(json.loads(report.read_text()), [s.path for s in files])
            if not found:
                raise ComponentError(f"ginkgo ran no spec of {[s.path for s in files]}; log: {log}")
            specs += found
    finally:
        cleanup.close()
    return RunResult(
        target=label,
        kruise_version=versions.KRUISE,
        spec_files=[spec.path for spec in files],
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        commit=commit,
        seconds=round(time.monotonic() - started),
        specs=specs,
    )


def _run(args: argparse.Namespace) -> int:
    files = spec_files(args.kinds, realnode=args.real_node)
    target = KRUISE if args.baseline == KRUISE else FLOTILLA
    if args.repeat < 1:
        _say(f"error: --repeat must be at least 1, not {args.repeat}")
        return 2
    try:
        result = run_specs(
            target, files, args.procs, focus=args.focus, realnode=args.real_node, repeat=args.repeat
        )
    except (ComponentError, ToolchainError, subprocess.CalledProcessError) as err:
        detail = err.stderr if isinstance(err, subprocess.CalledProcessError) else err
        _say(f"error: {detail}")
        return 2
    baseline = baseline_path(files, args.real_node)
    name = _record_name(files, args.real_node)
    out: Path = args.out or (baseline if target == KRUISE else Path(".conformance") / f"flotilla-{name}.json")
    result.save(out)
    for line in result.lines():
        print(line, flush=True)
    _say(f"recorded {out} ({result.seconds}s)")
    if args.repeat > 1:  # every spec ran several times: how often each passed, no side by side
        for line in tally(result.specs):
            print(line, flush=True)
        return 0
    if target == FLOTILLA and baseline.exists():
        rows = compare(RunResult.load(baseline), result)
        if args.focus or any(spec.lines for spec in files):  # a subset: the rest are not defects
            rows = [row for row in rows if row.flotilla is not None and row.flotilla.state != SKIPPED]
        print("\nside by side (kruise-manager, Flotilla), baseline " + str(baseline))
        for line in text_report(rows):
            print(line)
        return 1 if defects(rows) else 0
    return 0


def _report(args: argparse.Namespace) -> int:
    rows = compare(RunResult.load(args.kruise), RunResult.load(args.flotilla))
    if args.markdown:
        print(markdown_table(rows), end="")
    else:
        for line in text_report(rows):
            print(line)
    return 1 if defects(rows) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flotilla.conformance", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run kruise's e2e specs against Flotilla (or --baseline kruise)")
    run.add_argument("--baseline", choices=[KRUISE], help="run them against kruise-manager instead")
    run.add_argument(
        "--kinds", nargs="*", help="only these kinds' spec files (default: every implemented kind)"
    )
    run.add_argument(
        "--procs", type=int, default=DEFAULT_PROCS, help=f"ginkgo processes (default {DEFAULT_PROCS})"
    )
    run.add_argument(
        "--focus",
        metavar="REGEX",
        help="only the specs whose full text matches REGEX (ginkgo --focus), to run a subset while fixing",
    )
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the specs N times on one control plane (a spec that races: how often it passes)",
    )
    run.add_argument(
        "--real-node",
        action="store_true",
        help="the node-side spec files on a real node (containerd + kubelet; root), with "
        "kruise-daemon or Flotilla's node agent for it",
    )
    run.add_argument("--out", type=Path, help="where to record the result JSON")
    run.set_defaults(func=_run)
    report = sub.add_parser("report", help="two recorded results side by side")
    report.add_argument("--kruise", type=Path, required=True, help="kruise-manager's result JSON")
    report.add_argument("--flotilla", type=Path, required=True, help="Flotilla's result JSON")
    report.add_argument("--markdown", action="store_true", help="print docs/conformance.md's table")
    report.set_defaults(func=_report)
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the control plane and ginkgo are stopped.
    unwind_on_sigterm()
    code: int = args.func(args)
    return code
