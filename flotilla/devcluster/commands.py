"""`flotilla dev up|down|status|tools`: the local control plane for people.

`up` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
NATS detached (they outlive the command), records them in the run folder and prints
how to reach them; `down` stops them; `status` checks each; `tools` builds or finds
the binaries. The same launcher (`env.py`, `cluster.py`) serves the test fixtures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from flotilla.devcluster import realnode
from flotilla.devcluster.cluster import CONTROL_PLANE_BINARIES, ClusterConfig
from flotilla.devcluster.demo import show_container_recreate, show_rollout, start_flotilla, start_node_agent
from flotilla.devcluster.env import DevEnvironment, read_state, runs_root, stop_detached
from flotilla.devcluster.jaeger import Jaeger, JaegerQuery
from flotilla.devcluster.process import ComponentError, pid_alive
from flotilla.devcluster.toolchain import ToolchainError, ensure_binaries
from flotilla.devcluster.trace_view import render_trace
from flotilla.runtime.natsconn import redact_url


def default_run_dir() -> Path:
    return runs_root() / "dev"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subparsers.add_parser("dev", help="run a local control plane + NATS for development")
    dev_sub = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)

    up = dev_sub.add_parser(
        "up", help="start the local control plane, NATS and Flotilla with a sample CloneSet (detached)"
    )
    up.add_argument(
        "--run-dir", type=Path, default=default_run_dir(), help="folder for logs, data, kubeconfig"
    )
    up.add_argument("--nodes", type=int, default=3, help="number of kwok fake nodes (default 3)")
    up.add_argument("--apiserver-port", type=int, default=0, help="kube-apiserver port (default: a free one)")
    up.add_argument("--nats-port", type=int, default=0, help="NATS client port (default: a free one)")
    up.add_argument("--no-flotilla", action="store_true", help="only the control plane and NATS")
    up.add_argument("--no-jaeger", action="store_true", help="no Jaeger (Flotilla then exports no traces)")
    up.add_argument(
        "--real-node",
        action="store_true",
        help=f"also one real node (containerd + kubelet, root only) named {realnode.NODE_NAME}, tainted "
        f"{realnode.NODE_KEY}, its node agent, and a ContainerRecreateRequest restarting a container of "
        "a sample CloneSet on it (`make demo REAL_NODE=1`); see docs/realnode.md",
    )
    up.set_defaults(func=_up)

    down = dev_sub.add_parser("down", help="stop everything `dev up` started")
    down.add_argument("--run-dir", type=Path, default=default_run_dir())
    down.set_defaults(func=_down)

    status = dev_sub.add_parser("status", help="check every component of `dev up`")
    status.add_argument("--run-dir", type=Path, default=default_run_dir())
    status.set_defaults(func=_status)

    traces = dev_sub.add_parser("traces", help="print recent reconciles from Jaeger as trace trees")
    traces.add_argument("--run-dir", type=Path, default=default_run_dir())
    traces.add_argument("--service", default="flotilla-worker-cloneset", help="service whose traces to show")
    traces.add_argument("--limit", type=int, default=3, help="how many recent traces (default 3)")
    traces.set_defaults(func=_traces)

    tools = dev_sub.add_parser(
        "tools",
        help="find or build (once) the control plane binaries; as root, also the real node's Debian packages",
    )
    tools.add_argument(
        "binaries",
        nargs="*",
        default=[*CONTROL_PLANE_BINARIES, "helm", "jaeger", "kruise-e2e.test", "ginkgo", "kubelet"],
    )
    tools.set_defaults(func=_tools)


def _say(message: str) -> None:
    print(f"[flotilla] {message}", file=sys.stderr, flush=True)


def _tools(args: argparse.Namespace) -> int:
    if "kubelet" in args.binaries and realnode.missing_packages():
        # the real node's containerd, runc, CNI plugins, busybox-static and registry (Debian)
        if os.geteuid() == 0 and shutil.which("apt-get"):
            try:
                realnode.ensure_packages()
            except ComponentError as err:
                _say(f"error: {err}")
                return 1
        else:
            _say(
                "note: the real node (--real-node) needs: apt-get install "
                + " ".join(realnode.missing_packages())
            )
    try:
        for name, path in ensure_binaries(args.binaries).items():
            print(f"{name:24} {path}")
    except ToolchainError as err:
        _say(f"error: {err}")
        return 1
    return 0


def _running(run_dir: Path) -> bool:
    state = read_state(run_dir)
    pids = state.get("pids") if state else None
    return isinstance(pids, dict) and any(isinstance(p, int) and pid_alive(p) for p in pids.values())


def _up(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if _running(run_dir):
        _say(f"already running (run folder {run_dir}); `flotilla dev down` stops it")
        return _status(args)
    stop_detached(run_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    config = ClusterConfig(
        run_dir=run_dir, nodes=args.nodes, apiserver_port=args.apiserver_port or None, detached=True
    )
    _say(f"starting the local control plane in {run_dir}")
    try:
        env = DevEnvironment.start_local(config, nats_port=args.nats_port)
    except (ComponentError, ToolchainError) as err:
        _say(f"error: {err}")
        _say(f"logs: {run_dir / 'logs'}")
        return 1
    env.write_state()
    if args.real_node:
        assert env.cluster is not None
        assert env.cluster.pki is not None
        _say(f"starting the real node {realnode.NODE_NAME} (containerd + kubelet, in {realnode.STATE_DIR})")
        node = realnode.RealNode(
            server=env.cluster.server, ca=env.cluster.pki.ca, api=env.cluster.api_request, detached=True
        )
        try:
            node.start()
        except (ComponentError, ToolchainError, OSError) as err:
            _say(f"error: the real node did not start: {err}")
            _say(f"logs: {realnode.STATE_DIR / 'logs'}; `make down` stops what started")
            return 1
    if not args.no_jaeger:
        _say("starting Jaeger v2 (traces of every reconcile)")
        env.jaeger = Jaeger(run_dir, detached=True)
        try:
            env.jaeger.start()
        except (ComponentError, ToolchainError) as err:
            env.write_state()
            _say(f"error: Jaeger did not start: {err}")
            _say(f"logs: {run_dir / 'logs'}; `make down` stops what started; `--no-jaeger` skips it")
            return 1
        env.write_state()
    if not args.no_flotilla:
        try:
            otel = env.jaeger.otel_env() if env.jaeger else None
            start_flotilla(env, extra_env=otel, webhook=True)
            env.write_state()
            show_rollout(env)
            if args.real_node:
                start_node_agent(env, otel)
                env.write_state()
                show_container_recreate(env)
        except (ComponentError, ToolchainError, subprocess.CalledProcessError) as err:
            env.write_state()
            detail = err.stderr if isinstance(err, subprocess.CalledProcessError) else err
            _say(f"error: Flotilla's sample did not come up: {detail}")
            _say(f"logs: {run_dir / 'logs'}; everything started is still up (`make down` stops it)")
            return 1
    kubectl = env.binaries["kubectl"]
    print(
        f"""
Flotilla's local control plane is up.
  run folder : {run_dir}  (logs in {run_dir / "logs"})
  kubectl    : {kubectl} --kubeconfig {env.kubeconfig} get nodes
  NATS       : {redact_url(env.nats_url)}  (passwords of every user: {run_dir / "nats" / "users.json"})
{_jaeger_lines(env.jaeger)}{_real_node_lines(args.real_node)}  status     : .venv/bin/flotilla dev status
  stop       : make down   (or .venv/bin/flotilla dev down)
"""
    )
    return 0


def _real_node_lines(real_node: bool) -> str:
    if not real_node:
        return ""
    return (
        f"  real node  : {realnode.NODE_NAME} (its logs in {realnode.STATE_DIR / 'logs'})\n"
        "               kubectl get pods -l app=demo-real; kubectl get crr demo-restart -o yaml\n"
    )


def _jaeger_lines(jaeger: Jaeger | None) -> str:
    if jaeger is None:
        return ""
    return (
        f"  Jaeger     : {jaeger.ui_url}  (query API; OTLP/HTTP in at {jaeger.otlp_http_endpoint})\n"
        "  traces     : .venv/bin/flotilla dev traces   (each reconcile as a span tree)\n"
        f"               curl -s '{jaeger.ui_url}/api/traces?service=flotilla-worker-cloneset&limit=5'\n"
    )


def _down(args: argparse.Namespace) -> int:
    if realnode.STATE_DIR.exists():
        # before the control plane: the kubelet first, then containerd, its containers and host state
        realnode.clean_leftovers()
        _say(f"stopped the real node {realnode.NODE_NAME}")
    stopped = stop_detached(args.run_dir)
    if stopped:
        _say("stopped " + ", ".join(stopped))
    else:
        _say(f"nothing running for {args.run_dir}")
    return 0


def _check(label: str, ok: bool, detail: str = "") -> bool:
    print(f"  {'ok ' if ok else 'BAD'}  {label}{': ' + detail if detail else ''}")
    return ok


def _status(args: argparse.Namespace) -> int:
    state = read_state(args.run_dir)
    if state is None:
        print(f"not running (no state in {args.run_dir}); start it with `make demo`")
        return 1
    healthy = True
    pids = state.get("pids")
    if isinstance(pids, dict):
        for name, pid in pids.items():
            healthy &= _check(f"{name} (pid {pid})", isinstance(pid, int) and pid_alive(pid))
    binaries = state.get("binaries")
    kubeconfig = str(state.get("kubeconfig"))
    env = DevEnvironment(
        Path(kubeconfig),
        str(state.get("nats_url")),
        args.run_dir,
        {k: Path(str(v)) for k, v in binaries.items()} if isinstance(binaries, dict) else {},
    )
    readyz = env.kubectl("get", "--raw", "/readyz", check=False)
    healthy &= _check("kube-apiserver /readyz", readyz.stdout.strip() == "ok", readyz.stderr.strip())
    nodes = env.kubectl("get", "nodes", "-o", "json", check=False)
    if nodes.returncode == 0:
        items = json.loads(nodes.stdout)["items"]
        ready = [
            n["metadata"]["name"]
            for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
        ]
        healthy &= _check("nodes Ready", len(ready) == len(items) > 0, f"{len(ready)}/{len(items)}")
    else:
        healthy &= _check("nodes Ready", False, nodes.stderr.strip())
    healthy &= _check("NATS JetStream", _jetstream_answers(state), redact_url(str(state.get("nats_url"))))
    jaeger_ui = state.get("jaeger_ui")
    if isinstance(jaeger_ui, str):
        healthy &= _check("Jaeger query API", _jaeger_answers(jaeger_ui), jaeger_ui)
    return 0 if healthy else 1


def _jaeger_answers(ui_url: str) -> bool:
    try:
        JaegerQuery(ui_url, timeout=3).services()
    except (OSError, ValueError):
        return False
    return True


def _jetstream_answers(state: dict[str, object]) -> bool:
    monitor = state.get("nats_monitor")
    if not isinstance(monitor, str):
        return False
    try:
        with urllib.request.urlopen(f"{monitor}/jsz", timeout=3) as response:
            return "config" in json.loads(response.read())
    except (TimeoutError, OSError, ValueError):
        return False


def _traces(args: argparse.Namespace) -> int:
    state = read_state(args.run_dir)
    ui = state.get("jaeger_ui") if state else None
    if not isinstance(ui, str):
        print(f"no Jaeger recorded in {args.run_dir}; start it with `make demo`", file=sys.stderr)
        return 1
    try:
        traces = JaegerQuery(ui).traces(args.service, limit=args.limit)
    except OSError as err:
        print(f"Jaeger at {ui} did not answer: {err}", file=sys.stderr)
        return 1
    if not traces:
        print(f"no traces of {args.service} yet (services: {', '.join(JaegerQuery(ui).services())})")
        return 0
    for trace in sorted(traces, key=lambda t: min(s.start_us for s in t.spans), reverse=True):
        print(render_trace(trace), end="\n\n")
    return 0
