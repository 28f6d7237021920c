"""Render charts/flotilla with the project's own helm binary, for the chart's unit tests.

`render` runs `helm template` for the Kubernetes release the local control plane runs
and returns the objects; `helm_run` runs any helm command with helm's own state kept in
a throw-away folder (never the user's ~/.config/helm).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from flotilla.devcluster import versions
from flotilla.devcluster.toolchain import ensure_binaries

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "flotilla"
#: Render for the Kubernetes release the local control plane runs (Chart.yaml asks >= 1.29).
KUBE_VERSION = versions.KUBERNETES.lstrip("v")

Manifest = dict[str, Any]


@cache
def helm_binary() -> Path:
    return ensure_binaries(["helm"])["helm"]


@cache
def _helm_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="flotilla-helm-home-"))


def helm_env() -> dict[str, str]:
    home = _helm_home()
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
    )
    return env


def helm_run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run helm; with `check`, a non-zero exit raises with helm's stderr in the message."""
    result = subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=helm_env(),
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def set_args(values: Mapping[str, object]) -> list[str]:
    """`--set`/`--set-string` flags for dotted keys: ints and bools typed, strings as strings."""
    args: list[str] = []
    for key, value in values.items():
        if isinstance(value, bool):
            args += ["--set", f"{key}={str(value).lower()}"]
        elif isinstance(value, int):
            args += ["--set", f"{key}={value}"]
        else:
            args += ["--set-string", f"{key}={value}"]
    return args


def template_args(
    values: Mapping[str, object] | None = None,
    values_yaml: Mapping[str, object] | None = None,
    release: str = "flotilla",
    namespace: str = "flotilla-system",
) -> tuple[list[str], list[Path]]:
    """The `helm template` arguments (and temporary values files the caller may delete)."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    files: list[Path] = []
    if values_yaml is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            yaml.safe_dump(dict(values_yaml), handle)
        files.append(Path(handle.name))
        args += ["--values", handle.name]
    args += set_args(values or {})
    return args, files


def render_text(
    values: Mapping[str, object] | None = None,
    values_yaml: Mapping[str, object] | None = None,
    extra: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args, files = template_args(values, values_yaml)
    try:
        return helm_run(*args, *extra, check=check)
    finally:
        for path in files:
            path.unlink(missing_ok=True)


def render(
    values: Mapping[str, object] | None = None, values_yaml: Mapping[str, object] | None = None
) -> list[Manifest]:
    """The objects `helm template` renders (CRDs from crds/ not included)."""
    out = render_text(values, values_yaml).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(objects: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: Iterable[Manifest], kind: str, name: str) -> Manifest:
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def names(objects: Iterable[Manifest], kind: str) -> set[str]:
    return {obj["metadata"]["name"] for obj in objects if obj["kind"] == kind}


def env_of(container: Mapping[str, Any]) -> dict[str, Any]:
    """A container's env as name -> value (or the valueFrom mapping)."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def pod_specs(objects: Iterable[Manifest]) -> list[tuple[str, Manifest]]:
    """(kind/name, pod spec) of every workload object."""
    return [
        (f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"])
        for obj in objects
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet"}
    ]
