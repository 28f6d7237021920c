"""kruise-manager v1.9.1 out of cluster: the baseline of `make conformance BASELINE=kruise`.

Installs what kruise's own deployment (config/default) would: the ``kruise-system``
namespace, kruise's CRDs from the module's config/crd/bases with the conversion-webhook
patches its kustomization enables, and the two webhook configurations it patches but never
creates (``kruise-mutating-webhook-configuration``, ``kruise-validating-webhook-configuration``,
from config/webhook with its patches). Then starts the kruise-manager binary the way
config/manager/manager.yaml runs it (leader election on, the e2e feature gates), with
``WEBHOOK_HOST=127.0.0.1`` so it serves its webhooks on loopback and registers them by URL
with a self-signed CA written to the run folder.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ManagedProcess

NAMESPACE = "kruise-system"
WEBHOOK_SERVICE = "kruise-webhook-service"
#: kruise's config/default kustomization prefixes every name with this.
NAME_PREFIX = "kruise-"

#: The feature gates kruise's e2e runs with (its CI's manager flags); Flotilla's worker gets the
#: same ones in a conformance run, so both sides are judged with the same behaviour switched on.
E2E_FEATURE_GATES = "AllAlpha=true,AllBeta=true,EnableExternalCerts=false,TemplateNoDefaults=false"
#: config/manager/manager.yaml's manager arguments (kruise v1.9.1), which kruise's e2e CI deploys.
MANAGER_FLAGS = (
    "--enable-leader-election",
    "--logtostderr=true",
    "--v=2",
    f"--feature-gates={E2E_FEATURE_GATES}",
)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]


def _kustomize_list(kustomization: Path, key: str) -> list[str]:
    """Entries of a kustomization list that are not commented out."""
    loaded = yaml.safe_load(kustomization.read_text()) or {}
    entries = loaded.get(key) or []
    return [str(entry) for entry in entries]


def crd_manifests(source: Path) -> list[dict[str, Any]]:
    """kruise's CRDs as config/crd's kustomization builds them (its conversion patches applied)."""
    crd_dir = source / "config" / "crd"
    kustomization = crd_dir / "kustomization.yaml"
    crds = [doc for rel in _kustomize_list(kustomization, "resources") for doc in _documents(crd_dir / rel)]
    by_name = {crd["metadata"]["name"]: crd for crd in crds}
    for rel in _kustomize_list(kustomization, "patchesStrategicMerge"):
        for patch in _documents(crd_dir / rel):
            target = by_name[patch["metadata"]["name"]]
            conversion = patch.get("spec", {}).get("conversion")
            if conversion is not None:
                target["spec"]["conversion"] = conversion
    return crds


def webhook_manifests(source: Path) -> list[dict[str, Any]]:
    """The webhook configurations of config/webhook, named and patched as config/default does."""
    webhook_dir = source / "config" / "webhook"
    patches = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in _documents(webhook_dir / "patch_manifests.yaml")
    }
    configurations = []
    for doc in _documents(webhook_dir / "manifests.yaml"):
        patch = patches.get((doc["kind"], doc["metadata"]["name"]), {})
        patched = {hook["name"]: hook for hook in patch.get("webhooks", [])}
        for hook in doc.get("webhooks", []):
            hook.update({k: v for k, v in patched.get(hook["name"], {}).items() if k != "name"})
            service = hook.get("clientConfig", {}).get("service")
            if service is not None:
                service.update(namespace=NAMESPACE, name=WEBHOOK_SERVICE)
        doc["metadata"]["name"] = NAME_PREFIX + doc["metadata"]["name"]
        configurations.append(doc)
    return configurations


def _apply(env: DevEnvironment, documents: Iterable[dict[str, Any]]) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(documents)}
    env.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(items))


def install(env: DevEnvironment, source: Path) -> None:
    """kruise's namespaces, CRDs and webhook configurations."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        # config/manager's namespace label: kruise's pod webhook leaves this namespace alone.
        "metadata": {"name": NAMESPACE, "labels": {"control-plane": "controller-manager"}},
    }
    # config/default's own resource: the namespace kruise keeps image-pull secrets in; its
    # ImagePullJob controller fails (and holds the jobs' finalizers) without it.
    daemon_config = _documents(source / "config" / "default" / "kruise-daemon-config.yaml")
    _apply(env, [namespace, *daemon_config])
    _apply(env, crd_manifests(source))
    env.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    _apply(env, webhook_manifests(source))


def start(env: DevEnvironment, binary: Path, source: Path, extra_args: Sequence[str] = ()) -> ManagedProcess:
    """Install kruise's objects and start kruise-manager; return once it is ready (/readyz:
    its webhooks registered, controllers starting). ``extra_args`` follow `MANAGER_FLAGS`
    (the CloneSet benchmark sets kruise's client limits, ``--rest-config-qps/-burst``)."""
    install(env, source)
    health_port = free_port()
    process_env = dict(os.environ)
    process_env.update(
        KUBECONFIG=str(env.kubeconfig),
        POD_NAMESPACE=NAMESPACE,
        WEBHOOK_HOST=LOOPBACK,
        WEBHOOK_PORT=str(free_port()),
        WEBHOOK_CERT_DIR=str(env.run_dir / "kruise-webhook-certs"),
        KUBE_CACHE_MUTATION_DETECTOR="true",
    )
    process = ManagedProcess(
        "kruise-manager",
        [
            str(binary),
            *MANAGER_FLAGS,
            f"--metrics-addr={LOOPBACK}:{free_port()}",
            f"--health-probe-addr={LOOPBACK}:{health_port}",
            f"--pprof-addr={LOOPBACK}:{free_port()}",
            *extra_args,
        ],
        env.run_dir / "logs" / "kruise-manager.log",
        env=process_env,
    )
    process.start()
    process.wait_until(lambda: _ready(f"http://{LOOPBACK}:{health_port}/readyz"), 180, "ready (/readyz)")
    assert process.pid is not None
    env.extra_pids["kruise-manager"] = process.pid
    return process


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
