"""Bad set-up gets a clear message: Go missing, a port taken, a build failure, a crash.

These drive the launcher's real error paths (real processes, real sockets, a real
`go` invocation); nothing is patched.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from flotilla.devcluster import toolchain, versions
from flotilla.devcluster.ports import LOOPBACK, require_free
from flotilla.devcluster.process import ComponentError, ManagedProcess


def test_a_taken_port_names_the_component_and_the_port() -> None:
    with socket.socket() as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(
            ComponentError, match=rf"kube-apiserver cannot listen on 127.0.0.1:{port}: the port is taken"
        ):
            require_free(port, "kube-apiserver")


def test_a_component_that_crashes_is_named_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "etcd.log"
    proc = ManagedProcess(
        "etcd", [sys.executable, "-c", "print('bad flag: --nope'); raise SystemExit(3)"], log
    )
    proc.start()
    with pytest.raises(ComponentError) as err:
        proc.wait_until(lambda: False, 10, "healthy")
    message = str(err.value)
    assert "etcd exited with code 3 before it was healthy" in message
    assert str(log) in message
    assert "bad flag: --nope" in message


def test_a_component_that_never_gets_ready_times_out_clearly(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "kwok", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "kwok.log"
    )
    proc.start()
    try:
        with pytest.raises(ComponentError, match=r"kwok was not healthy within 1s; log: "):
            proc.wait_until(lambda: False, 1, "healthy")
    finally:
        proc.stop(timeout=2)
    assert not proc.running()


def test_go_missing_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no go, no kwok
    monkeypatch.setenv("FLOTILLA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    with pytest.raises(toolchain.ToolchainError, match=r"Go is not installed.*KUBEBUILDER_ASSETS"):
        toolchain.ensure_binaries(["kwok"], log=False)


def test_a_build_failure_shows_go_s_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A pinned version the module proxy does not have fails with go's own message."""
    monkeypatch.setenv("FLOTILLA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    monkeypatch.setenv("GOPROXY", "off")  # no network for this test: the module is not in the empty cache
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    build = toolchain.GoBuild(
        tool="kwok",
        module="sigs.k8s.io/kwok",
        version="v0.0.0-nonexistent",
        binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
    )
    with pytest.raises(
        toolchain.ToolchainError,
        match=r"go get sigs.k8s.io/kwok@v0.0.0-nonexistent.*` failed \(exit 1\)(.|\n)*GOPROXY=off",
    ):
        toolchain._build(build, log=False)


def test_kubernetes_staging_twin_version() -> None:
    assert versions.staging_version("v1.36.3") == "v0.36.3"


def test_binaries_come_from_kubebuilder_assets_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "etcd"
    fake.write_text("#!/bin/sh\necho etcd Version: 3.6.8\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    assert toolchain.find_binary("etcd") == fake


def test_pruning_keeps_run_folders_of_live_sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    from flotilla.devcluster.env import new_run_dir

    monkeypatch.setenv("FLOTILLA_CACHE", str(tmp_path))
    runs = tmp_path / "runs"
    runs.mkdir()
    live = runs / f"pytest-20260101-000000-{os.getpid()}"
    stale = [runs / f"pytest-20260101-00000{i}-999999{i}" for i in range(6)]
    for folder in (live, *stale):
        folder.mkdir()
    new_run_dir("pytest", keep=2)
    assert live.exists(), "the folder of a running session is never pruned"
    assert sum(folder.exists() for folder in stale) <= 1


def test_module_replaces_keep_versioned_targets_and_drop_local_paths() -> None:
    """kruise's go.mod style: a block of `a => a v0.32.10`, plus a single-line and a local one."""
    go_mod = (
        "module example.com/m\n\ngo 1.23.0\n\nrequire k8s.io/api v0.32.0\n\n"
        "replace (\n"
        "\tgolang.org/x/sys => golang.org/x/sys v0.19.0\n"
        "\tk8s.io/api => k8s.io/api v0.32.10 // pinned\n"
        "\tk8s.io/local => ./staging/src/k8s.io/local\n"
        ")\n\n"
        "replace k8s.io/kube-proxy v0.30.0 => k8s.io/kube-proxy v0.30.9\n"
    )
    assert toolchain.module_replaces(go_mod) == {
        "golang.org/x/sys": "golang.org/x/sys v0.19.0",
        "k8s.io/api": "k8s.io/api v0.32.10",
        "k8s.io/kube-proxy": "k8s.io/kube-proxy v0.30.9",
    }


def test_kruise_build_pins_its_hash_and_keeps_existing_recipes() -> None:
    builds = toolchain._all_builds()
    kruise = builds["kruise"]
    assert kruise.go_sum == versions.KRUISE_GO_SUM
    assert kruise.extra_env["GONOSUMDB"] == "github.com/openkruise"
    assert kruise.test_binaries == {"kruise-e2e.test": "github.com/openkruise/kruise/test/e2e"}
    # Fields added for kruise do not change the digest (and so the cache folder) of older recipes.
    import hashlib

    plain = toolchain.GoBuild(
        tool="kwok", module="sigs.k8s.io/kwok", version="v0.8.0", binaries={"kwok": "x"}
    )
    old_recipe = repr(("sigs.k8s.io/kwok", "v0.8.0", [("kwok", "x")], None, [], ()))
    assert plain.recipe_digest == hashlib.sha256(old_recipe.encode()).hexdigest()[:8]
    assert (
        kruise.recipe_digest
        != toolchain.GoBuild(
            tool="kruise", module=kruise.module, version=kruise.version, binaries=kruise.binaries
        ).recipe_digest
    )
