"""``flotilla node-agent``: the per-node agent's command line (flags and env vars -> the CRR loop).

Listed in ``flotilla.cli.SUBCOMMAND_MODULES``. Runs on each node (the chart's DaemonSet, or
next to the real node in tests): talks to the container runtime over CRI at ``--cri-endpoint``
and to the API server; executes the ContainerRecreateRequests of ``--node-name``, pulls the
images of its NodeImage (``--no-image-pulls`` turns the puller off) and reports the running
containers of its kruise Pods (containermeta, with kruise's gate ``DaemonWatchingPod``)
(docs/nodeagent.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from flotilla.runtime.features import FEATURE_GATES_ENV, Feature, FeatureGateError, feature_gates_from_flag
from flotilla.runtime.health import Health
from flotilla.runtime.httpserver import start_http_server
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.logs import setup_logging
from flotilla.runtime.tracing import setup_tracing, shutdown_tracing

log = logging.getLogger("flotilla.nodeagent")

DEFAULT_CRI = "unix:///run/containerd/containerd.sock"

_DESCRIPTION = """\
Execute the node's share of OpenKruise: ContainerRecreateRequests of this node (kruise-daemon's
part through the CRI, and kruise-manager's deadline/TTL part), the image pulls of this node's
NodeImage (CRI PullImage; status per tag) and kruise-daemon's containermeta (the annotation
apps.kruise.io/runtime-containers-meta on this node's kruise Pods; a container whose env from
pod metadata changed during an in-place update is restarted). Reads only this node's objects: a watch of
ContainerRecreateRequests selected by the label crr.apps.kruise.io/node-name, of Pods selected by
spec.nodeName and of the NodeImage named after the node. Serves /metrics, /healthz, /readyz on
FLOTILLA_HTTP_PORT (ready once the first list of each is in and the runtime answers). JSON logs on stderr;
OpenTelemetry spans (one per pass on a Pod's requests) from the standard OTEL_* variables.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = os.environ.get
    parser = subparsers.add_parser(
        "node-agent",
        help="run the per-node agent (ContainerRecreateRequest through the CRI)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--node-name", default=env("NODE_NAME", ""), help="this node (default $NODE_NAME)")
    parser.add_argument(
        "--cri-endpoint",
        default=env("FLOTILLA_CRI_ENDPOINT", DEFAULT_CRI),
        help=f"the container runtime's CRI socket (default {DEFAULT_CRI})",
    )
    parser.add_argument("--runtime-name", default="containerd", help="the containerID prefix of this runtime")
    parser.add_argument(
        "--kubeconfig", type=Path, default=None, help="kubeconfig (default $KUBECONFIG or in-cluster)"
    )
    parser.add_argument("--http-port", type=int, default=None, help="port of /metrics, /healthz, /readyz")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING")
    parser.add_argument(
        "--feature-gates",
        default=env(FEATURE_GATES_ENV, ""),
        help="kruise's gates (A=true,B=false; default $FLOTILLA_FEATURE_GATES): DaemonWatchingPod "
        "runs containermeta, InPlaceUpdateEnvFromMetadata its env hashes and restarts",
    )
    parser.add_argument(
        "--no-image-pulls",
        dest="image_pulls",
        action="store_false",
        help="do not pull the images of this node's NodeImage (kruise-daemon's imagepuller)",
    )
    parser.set_defaults(func=_main)


async def _all(waits: list[Coroutine[Any, Any, object]]) -> None:
    await asyncio.gather(*waits)


def _main(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    if not args.node_name:
        raise SystemExit("flotilla node-agent: --node-name (or $NODE_NAME) is required")
    try:
        args.gates = feature_gates_from_flag(args.feature_gates)
    except FeatureGateError as exc:
        raise SystemExit(f"flotilla node-agent: --feature-gates: {exc}") from exc
    setup_tracing("flotilla-node-agent")
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from nodeagent.containermeta.agent import ContainerMetaAgent
    from nodeagent.cri.runtime import CriError, CriImages, CriRuntime
    from nodeagent.crr.agent import CrrAgent
    from nodeagent.imagepull.agent import ImagePullAgent

    health = Health("kube", "cri")
    runner = await start_http_server(health, args.http_port)
    runtime = CriRuntime(args.cri_endpoint, args.runtime_name)
    kube = KubeClient.from_environment(args.kubeconfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            log.info("container runtime: %s at %s", await runtime.version(), args.cri_endpoint)
            health.set_ready("cri")
        except CriError as exc:
            health.set_not_ready("cri", str(exc))
            log.error("container runtime at %s does not answer: %s", args.cri_endpoint, exc)
        agent = CrrAgent(kube, runtime, args.node_name)
        tasks = [asyncio.create_task(agent.run())]
        waits: list[Coroutine[Any, Any, object]] = [agent.synced()]
        if args.gates[Feature.DAEMON_WATCHING_POD]:
            # kruise-daemon's containermeta, on the CRR loop's watch of this node's Pods
            env_from_metadata = args.gates[Feature.IN_PLACE_UPDATE_ENV_FROM_METADATA]
            meta = ContainerMetaAgent(kube, runtime, agent.pods, env_from_metadata=env_from_metadata)
            tasks.append(asyncio.create_task(meta.run()))
        if args.image_pulls:
            puller = ImagePullAgent(kube, CriImages(runtime), args.node_name)
            tasks.append(asyncio.create_task(puller.run()))
            waits.append(puller.node_images.synced.wait())
        synced = asyncio.create_task(_all(waits))
        await asyncio.wait(
            [synced, asyncio.create_task(stop.wait()), *tasks], return_when=asyncio.FIRST_COMPLETED
        )
        if synced.done() and not synced.cancelled():
            health.set_ready("kube")
        await asyncio.wait([asyncio.create_task(stop.wait()), *tasks], return_when=asyncio.FIRST_COMPLETED)
        synced.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return 0
    finally:
        health.alive = False
        await kube.close()
        await runtime.close()
        await runner.cleanup()
        shutdown_tracing()
