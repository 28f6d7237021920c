"""Find or build the external binaries of the local control plane.

Each binary is taken, in order, from ``KUBEBUILDER_ASSETS``, from ``PATH`` (when
its version fits the pinned release) or from the tool cache
(``~/.cache/flotilla/bin/<tool>-<version>-<recipe digest>/``). A miss in all three builds it
once from its Go module with the machine's Go toolchain (``GOTOOLCHAIN=local``,
so a toolchain mismatch fails at once instead of downloading one). Nothing here
downloads a prebuilt binary: the Go module proxy serves source only.

Called by the launcher (`cluster.py`), `flotilla dev tools` and the test suite's
fixtures. Builds take a file lock, so two runs never build the same tool at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flotilla.devcluster import versions


class ToolchainError(RuntimeError):
    """A binary could neither be found nor built; the message says what to do."""


def cache_root() -> Path:
    """The tool cache, outside any checkout so every run and CI reuse it."""
    configured = os.environ.get("FLOTILLA_CACHE")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "flotilla"


@dataclass(frozen=True)
class GoBuild:
    """How to build one or more binaries from a Go module at a pinned version."""

    tool: str
    module: str
    version: str
    #: binary name -> Go import path of its main package.
    binaries: dict[str, str]
    #: A generated ``main.go`` for modules whose main package is not importable.
    main_go: str | None = None
    replaces: dict[str, str] = field(default_factory=dict)
    ldflags: tuple[str, ...] = ()
    #: A PATH binary is accepted when its ``--version`` output matches this.
    path_version_pattern: str | None = None
    #: binary name -> Go import path of a package whose test binary (``go test -c``) it is.
    test_binaries: dict[str, str] = field(default_factory=dict)
    #: Carry the module's own ``replace`` directives (those naming a module version, not a
    #: local path) into the wrapper: Go ignores a dependency's replaces.
    inherit_replaces: bool = False
    #: Lines for the wrapper's go.sum: hashes pinned here for modules the checksum database
    #: does not answer for (with ``extra_env`` ``GONOSUMDB``).
    go_sum: tuple[str, ...] = ()
    #: Environment for every go command of this build.
    extra_env: dict[str, str] = field(default_factory=dict)
    #: A PATH binary is never taken (a same-named binary of another version would pass).
    cache_only: bool = False

    @property
    def all_binaries(self) -> dict[str, str]:
        return {**self.binaries, **self.test_binaries}

    @property
    def recipe_digest(self) -> str:
        """Short digest of everything that shapes the binaries: a changed recipe rebuilds."""
        parts: tuple[object, ...] = (
            self.module,
            self.version,
            sorted(self.binaries.items()),
            self.main_go,
            sorted(self.replaces.items()),
            self.ldflags,
        )
        # Fields added later join the recipe only when set, so existing digests stay the same.
        extra = (
            sorted(self.test_binaries.items()),
            self.inherit_replaces,
            self.go_sum,
            sorted(self.extra_env.items()),
        )
        if any(extra):
            parts = (*parts, extra)
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:8]

    @property
    def bin_dir(self) -> Path:
        return cache_root() / "bin" / f"{self.tool}-{self.version}-{self.recipe_digest}"

    @property
    def src_dir(self) -> Path:
        return cache_root() / "src" / f"{self.tool}-{self.version}"


def _kubernetes_build() -> GoBuild:
    version = versions.KUBERNETES
    major, minor = version.lstrip("v").split(".")[:2]
    version_pkgs = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    ldflags = ["-s", "-w"]
    for pkg in version_pkgs:
        ldflags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return GoBuild(
        tool="kubernetes",
        module="k8s.io/kubernetes",
        version=version,
        binaries={
            name: f"k8s.io/kubernetes/cmd/{name}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        },
        ldflags=tuple(ldflags),
        path_version_pattern=rf"v{major}\.{minor}\.",
    )


def _kubelet_build() -> GoBuild:
    """The kubelet of the real node (flotilla/devcluster/realnode.py): the control plane's
    Kubernetes version and ldflags, as its own cache entry so the control plane's digest (and
    cache) stays as it is and only `--real-node` users pay for this build."""
    control_plane = _kubernetes_build()
    return GoBuild(
        tool="kubelet",
        module=control_plane.module,
        version=control_plane.version,
        binaries={"kubelet": "k8s.io/kubernetes/cmd/kubelet"},
        ldflags=control_plane.ldflags,
        cache_only=True,
    )


def _kruise_build() -> GoBuild:
    """kruise-manager (the module's root package) and kruise's e2e test binary, the yardstick
    of `make conformance` (flotilla/conformance)."""
    return GoBuild(
        tool="kruise",
        module="github.com/openkruise/kruise",
        version=versions.KRUISE,
        binaries={"kruise-manager": "github.com/openkruise/kruise"},
        test_binaries={"kruise-e2e.test": "github.com/openkruise/kruise/test/e2e"},
        ldflags=("-s", "-w"),
        inherit_replaces=True,
        go_sum=versions.KRUISE_GO_SUM,
        extra_env={"GONOSUMDB": "github.com/openkruise"},
        cache_only=True,
    )


def _kruise_daemon_build() -> GoBuild:
    """kruise-daemon (cmd/daemon of the same kruise module), the node half of the baseline of
    `make conformance-realnode`; its own cache entry, so kruise-manager's stays as it is."""
    manager = _kruise_build()
    return GoBuild(
        tool="kruise-daemon",
        module=manager.module,
        version=manager.version,
        binaries={"kruise-daemon": "github.com/openkruise/kruise/cmd/daemon"},
        ldflags=manager.ldflags,
        inherit_replaces=True,
        go_sum=manager.go_sum,
        extra_env=manager.extra_env,
        cache_only=True,
    )


_ETCD_MAIN = """\
// Generated by Flotilla's toolchain: the etcd server's own entry point.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def _all_builds() -> dict[str, GoBuild]:
    builds = [
        _kubernetes_build(),
        _kubelet_build(),
        GoBuild(
            tool="etcd",
            module="go.etcd.io/etcd/server/v3",
            version=versions.ETCD,
            binaries={"etcd": "."},
            main_go=_ETCD_MAIN,
            ldflags=("-s", "-w"),
            path_version_pattern=r"etcd Version: 3\.[56]\.",
        ),
        GoBuild(
            tool="kwok",
            module="sigs.k8s.io/kwok",
            version=versions.KWOK,
            binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
            ldflags=("-s", "-w"),
        ),
        GoBuild(
            tool="helm",
            module="helm.sh/helm/v3",
            version=versions.HELM,
            binaries={"helm": "helm.sh/helm/v3/cmd/helm"},
            # Helm's version, and the Kubernetes version `helm template`/`lint` assume without a
            # cluster (its client-go's: helm v3.19 builds against v0.34), as its release build sets.
            ldflags=(
                "-s",
                "-w",
                f"-X helm.sh/helm/v3/internal/version.version={versions.HELM}",
                "-X helm.sh/helm/v3/internal/version.metadata=",
                "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
                "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
                f"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={versions.HELM_KUBERNETES_MINOR}",
                "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1",
                f"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={versions.HELM_KUBERNETES_MINOR}",
            ),
        ),
        _kruise_build(),
        _kruise_daemon_build(),
        GoBuild(
            tool="ginkgo",
            module="github.com/onsi/ginkgo/v2",
            version=versions.GINKGO,
            binaries={"ginkgo": "github.com/onsi/ginkgo/v2/ginkgo"},
            ldflags=("-s", "-w"),
            cache_only=True,
        ),
        GoBuild(
            tool="jaeger",
            module="github.com/jaegertracing/jaeger",
            version=versions.JAEGER,
            binaries={"jaeger": "github.com/jaegertracing/jaeger/cmd/jaeger"},
            ldflags=("-s", "-w"),
        ),
    ]
    return {build.tool: build for build in builds}


def _build_for_binary(binary: str) -> GoBuild:
    for build in _all_builds().values():
        if binary in build.all_binaries:
            return build
    raise KeyError(f"no pinned build provides {binary!r}")


def _go_env() -> dict[str, str]:
    go_cache = cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(go_cache / "mod"),
        GOCACHE=str(go_cache / "build"),
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        CGO_ENABLED="0",
    )
    return env


def _from_assets(binary: str) -> Path | None:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if not assets:
        return None
    candidate = Path(assets) / binary
    return candidate if os.access(candidate, os.X_OK) else None


def _from_path(binary: str, build: GoBuild) -> Path | None:
    found = shutil.which(binary)
    if found is None:
        return None
    if build.path_version_pattern is None:
        return Path(found)
    flag = "version --client" if binary == "kubectl" else "--version"
    try:
        out = subprocess.run([found, *flag.split()], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(found) if re.search(build.path_version_pattern, out.stdout + out.stderr) else None


def find_binary(binary: str) -> Path | None:
    """Where `binary` is available without building, or None."""
    build = _build_for_binary(binary)
    found = (_from_assets(binary), None if build.cache_only else _from_path(binary, build))
    for candidate in found:
        if candidate is not None:
            return candidate
    cached = build.bin_dir / binary
    return cached if os.access(cached, os.X_OK) else None


def ensure_binaries(binaries: Sequence[str], *, log: bool = True) -> dict[str, Path]:
    """Paths of all `binaries`, building the missing ones from their Go modules."""
    paths: dict[str, Path] = {}
    for binary in binaries:
        found = find_binary(binary)
        if found is None:
            _build(_build_for_binary(binary), log=log)
            found = find_binary(binary)
        if found is None:  # pragma: no cover - _build raises on failure
            raise ToolchainError(f"{binary} was built but is not in {_build_for_binary(binary).bin_dir}")
        paths[binary] = found
    return paths


@contextmanager
def _locked(name: str) -> Iterator[None]:
    lock_dir = cache_root() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(
            "Go is not installed, and the control plane binaries are not in KUBEBUILDER_ASSETS, "
            f"PATH or the cache ({cache_root() / 'bin'}). Install Go >= 1.26 "
            "(e.g. `apt-get install golang-go` or your distribution's Go), or set KUBEBUILDER_ASSETS."
        )
    return go


def _staging_replaces(go: str, build: GoBuild, env: dict[str, str]) -> dict[str, str]:
    """k8s.io/kubernetes replaces its staging modules with local paths; point them at
    their published twins instead (a dependency's replace directives are ignored)."""
    out = _run([go, "mod", "download", "-json", f"{build.module}@{build.version}"], env, cwd=None)
    match = re.search(r'"GoMod":\s*"([^"]+)"', out)
    if match is None:
        raise ToolchainError(f"go mod download printed no go.mod path for {build.module}")
    go_mod = Path(match.group(1)).read_text()
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", go_mod, flags=re.M)
    twin = versions.staging_version(build.version)
    return {module: f"{module} {twin}" for module in staging}


def _module_go_mod(go: str, build: GoBuild, env: dict[str, str]) -> str:
    out = _run([go, "mod", "download", "-json", f"{build.module}@{build.version}"], env, cwd=None)
    match = re.search(r'"GoMod":\s*"([^"]+)"', out)
    if match is None:
        raise ToolchainError(f"go mod download printed no go.mod path for {build.module}")
    return Path(match.group(1)).read_text()


def module_replaces(go_mod: str) -> dict[str, str]:
    """The ``replace`` directives of a go.mod that name a module version (``a => b v1``),
    as wrapper replaces; ones pointing at local paths are left out."""
    replaces: dict[str, str] = {}
    block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("replace ("):
            block = True
            continue
        if block and line == ")":
            block = False
            continue
        if line.startswith("replace "):
            line = line.removeprefix("replace ").strip()
        elif not block:
            continue
        match = re.fullmatch(r"(\S+)(?:\s+\S+)?\s*=>\s*(\S+)\s+(v\S+)", line)
        if match is not None:
            replaces[match.group(1)] = f"{match.group(2)} {match.group(3)}"
    return replaces


def _write_wrapper(build: GoBuild, replaces: dict[str, str], go_version: str) -> None:
    src = build.src_dir
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    lines = [f"module flotilla.local/build/{build.tool}", "", f"go {go_version}", ""]
    lines.append(f"require {build.module} {build.version}")
    if replaces:
        lines += ["", "replace ("] + [f"\t{mod} => {target}" for mod, target in sorted(replaces.items())]
        lines.append(")")
    (src / "go.mod").write_text("\n".join(lines) + "\n")
    if build.main_go is not None:
        (src / "main.go").write_text(build.main_go)
    if build.go_sum:
        (src / "go.sum").write_text("\n".join(build.go_sum) + "\n")


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolchainError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}) in {cwd}:\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _go_build_with_progress(cmd: list[str], env: dict[str, str], cwd: Path, label: str, log: bool) -> None:
    """Run `go build -v` (or `go test -c`), printing a progress line every 15 s (a cold build
    takes minutes); `go test -c` lists no packages, so the line then shows only the time."""
    started = time.monotonic()
    tail: list[str] = []
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert proc.stderr is not None
    stderr = proc.stderr

    def read() -> None:
        for line in stderr:
            tail.append(line.rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while True:
        try:
            proc.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            if log:
                print(
                    f"  [build] {label}: {len(tail)} packages, {time.monotonic() - started:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
    reader.join()
    if proc.returncode != 0:
        raise ToolchainError(f"building {label} failed:\n" + "\n".join(tail[-60:]))


def _build(build: GoBuild, *, log: bool) -> None:
    go = _check_go()
    with _locked(build.tool):
        if all(os.access(build.bin_dir / name, os.X_OK) for name in build.all_binaries):
            return
        env = {**_go_env(), **build.extra_env}
        started = time.monotonic()
        if log:
            print(
                f"[flotilla] building {build.tool} {build.version} from its Go module into "
                f"{build.bin_dir} (once; later runs reuse it)",
                file=sys.stderr,
                flush=True,
            )
        go_version = _run([go, "env", "GOVERSION"], env, cwd=None).strip().removeprefix("go")
        replaces = dict(build.replaces)
        if build.module == "k8s.io/kubernetes":
            replaces.update(_staging_replaces(go, build, env))
        if build.inherit_replaces:
            replaces = {**module_replaces(_module_go_mod(go, build, env)), **replaces}
        _write_wrapper(build, replaces, ".".join(go_version.split(".")[:2]))
        get_targets = [f"{build.module}@{build.version}"]
        get_targets += [
            f"{pkg}@{build.version}" for pkg in build.all_binaries.values() if pkg not in (".", build.module)
        ]
        _run([go, "get", *get_targets], env, cwd=build.src_dir)
        if build.main_go is not None:
            _run([go, "mod", "tidy"], env, cwd=build.src_dir)
        staging = build.bin_dir.with_name(build.bin_dir.name + ".partial")
        staging.mkdir(parents=True, exist_ok=True)
        for name, pkg in build.all_binaries.items():
            verb = ["test", "-c"] if name in build.test_binaries else ["build", "-v"]
            flags = ["-trimpath", "-ldflags", " ".join(build.ldflags)]
            cmd = [go, *verb, *flags, "-o", str(staging / name), pkg]
            _go_build_with_progress(cmd, env, build.src_dir, f"{build.tool}/{name}", log)
        if build.bin_dir.exists():
            shutil.rmtree(build.bin_dir)
        staging.rename(build.bin_dir)
        if log:
            print(
                f"[flotilla] built {build.tool} {build.version} in {time.monotonic() - started:.0f}s",
                file=sys.stderr,
                flush=True,
            )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m flotilla.devcluster.toolchain [binary ...]`: find or build, print paths."""
    names = list(argv if argv is not None else sys.argv[1:]) or [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "kwok",
    ]
    try:
        for name, path in ensure_binaries(names).items():
            print(f"{name}\t{path}")
    except ToolchainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
