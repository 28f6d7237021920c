"""The CRI gRPC stubs, generated (never written by hand) from the ``k8s.io/cri-api`` module.

The CRI protocol is ``pkg/apis/runtime/v1/api.proto`` of the Go module ``k8s.io/cri-api`` at the
version twin of the pinned Kubernetes (``versions.staging_version``: v1.36.3 -> v0.36.3). It is
taken from the Go module cache when the toolchain already downloaded it, else from the Go module
proxy (``$GOPROXY``, default ``https://proxy.golang.org``), checked against the SHA-256 pinned
below, and compiled with ``grpc_tools.protoc`` into a folder keyed by version and hash:
``<cache>/cri/<version>-<sha12>/flotilla_cri/`` (``api_pb2``, ``api_pb2_grpc``). Like the CRDs
generated from ``schemas/``, the source of truth is one file; unlike them, the output is not
committed: it is build output (the image generates it at build time, ``FLOTILLA_CRI_STUBS``
points at it; elsewhere :func:`ensure_stubs` generates it once, on first use).

Run ``python -m nodeagent.cri.stubs [--out DIR]`` to generate ahead of time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from flotilla.devcluster import versions
from flotilla.devcluster.toolchain import cache_root

CRI_MODULE = "k8s.io/cri-api"
CRI_VERSION = versions.staging_version(versions.KUBERNETES)
PROTO_PATH = "pkg/apis/runtime/v1/api.proto"
#: SHA-256 of ``api.proto`` in k8s.io/cri-api v0.36.3 (a version bump changes it on purpose).
PROTO_SHA256 = "6d130c2651d335bfc755d25efc63072a1cd1eba3591ead6422dc0a27f20167f3"
PACKAGE = "flotilla_cri"
STUBS_ENV = "FLOTILLA_CRI_STUBS"


class StubsError(RuntimeError):
    """The proto could not be found, fetched or compiled; the message says what to do."""


def _from_module_cache() -> bytes | None:
    path = cache_root() / "go" / "mod" / f"{CRI_MODULE}@{CRI_VERSION}" / PROTO_PATH
    return path.read_bytes() if path.is_file() else None


def _from_proxy() -> bytes:
    proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].split("|")[0]
    if proxy in ("direct", "off", ""):
        proxy = "https://proxy.golang.org"
    url = f"{proxy.rstrip('/')}/{CRI_MODULE}/@v/{CRI_VERSION}.zip"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            archive = response.read()
    except OSError as exc:
        raise StubsError(
            f"cannot download {url}: {exc} (set GOPROXY to a reachable Go module proxy)"
        ) from exc
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        return zipped.read(f"{CRI_MODULE}@{CRI_VERSION}/{PROTO_PATH}")


def proto_source() -> bytes:
    """``api.proto`` of the pinned module, checked against :data:`PROTO_SHA256`."""
    data = _from_module_cache() or _from_proxy()
    digest = hashlib.sha256(data).hexdigest()
    if digest != PROTO_SHA256:
        raise StubsError(
            f"{CRI_MODULE}@{CRI_VERSION}/{PROTO_PATH} has SHA-256 {digest}, expected {PROTO_SHA256}"
        )
    return data


def default_dir() -> Path:
    return cache_root() / "cri" / f"{CRI_VERSION}-{PROTO_SHA256[:12]}"


def generate(out: Path) -> Path:
    """Compile the proto into ``out/flotilla_cri/``; returns ``out`` (atomic: built aside, renamed)."""
    from grpc_tools import protoc  # build-time tool, imported only here

    source = proto_source()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cri-", dir=out.parent))
    try:
        package = work / PACKAGE
        package.mkdir()
        (package / "api.proto").write_bytes(source)
        (package / "__init__.py").write_text('"""Generated from k8s.io/cri-api by nodeagent.cri.stubs."""\n')
        include = Path(protoc.__file__).parent / "_proto"
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{work}",
                f"-I{include}",
                f"--python_out={work}",
                f"--grpc_python_out={work}",
                f"{PACKAGE}/api.proto",
            ]
        )
        if code != 0:
            raise StubsError(f"protoc failed ({code}) on {CRI_MODULE}@{CRI_VERSION}/{PROTO_PATH}")
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return out


def ensure_stubs() -> Path:
    """The folder holding ``flotilla_cri``: ``$FLOTILLA_CRI_STUBS`` or the cache (generated once)."""
    configured = os.environ.get(STUBS_ENV)
    if configured:
        folder = Path(configured)
        if not (folder / PACKAGE / "api_pb2_grpc.py").is_file():
            raise StubsError(
                f"{STUBS_ENV}={folder} holds no generated {PACKAGE} (run python -m nodeagent.cri.stubs)"
            )
        return folder
    folder = default_dir()
    if not (folder / PACKAGE / "api_pb2_grpc.py").is_file():
        generate(folder)
    return folder


def load() -> tuple[ModuleType, ModuleType]:
    """Import the generated ``(api_pb2, api_pb2_grpc)``."""
    folder = str(ensure_stubs())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(f"{PACKAGE}.api_pb2"), importlib.import_module(f"{PACKAGE}.api_pb2_grpc")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nodeagent.cri.stubs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=None, help="folder to generate into (default: the cache)")
    args = parser.parse_args(argv)
    out = generate(args.out or default_dir())
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
