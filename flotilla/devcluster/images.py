"""Container images for the real node, made offline from Debian's busybox-static.

`write_oci_archive` writes a one-layer OCI image layout (a tar that ``ctr images import``
takes; :func:`write_archive`, which Flotilla's own image (:mod:`flotilla.devcluster.image`) is
written by too) with the standard library only: ``/bin/busybox``, a few applet links, and
``/etc/flotilla-image`` holding the image's label, so every tag has its own content and
digest (the CRI reports an arbitrary tag of a shared digest, which would break in-place
completion checks). Nothing is downloaded; the real node (`realnode.py`) imports or pushes them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

BUSYBOX = Path("/bin/busybox")

#: The main process of an ordinary image: says which image it is, then sleeps until SIGTERM.
DEFAULT_CMD = (
    "/bin/sh",
    "-c",
    'echo started $(cat /etc/flotilla-image); trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done',
)

#: The pod sandbox's process (the pause image): sleeps until SIGTERM or SIGINT.
PAUSE_CMD = ("/bin/sh", "-c", 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done')

_APPLETS = ("sh", "sleep", "cat", "echo", "ls", "ps", "kill", "date", "wget", "true", "hostname", "env")


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _add(
    tf: tarfile.TarFile, name: str, data: bytes | None = None, *, mode: int = 0o755, link: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    if data is None and not link:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(info)
    elif link:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
        tf.addfile(info)
    else:
        assert data is not None
        info.size, info.mode = len(data), mode
        tf.addfile(info, io.BytesIO(data))


def _layer(label: str) -> bytes:
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for folder in ("bin", "etc", "tmp", "proc", "sys", "dev", "var", "var/run", "root"):
            _add(tf, folder)
        _add(tf, "bin/busybox", BUSYBOX.read_bytes())
        for applet in _APPLETS:
            _add(tf, f"bin/{applet}", link="busybox")
        _add(tf, "etc/flotilla-image", f"{label}\n".encode(), mode=0o644)
        _add(
            tf,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            mode=0o644,
        )
        _add(tf, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", mode=0o644)
    return raw.getvalue()


def cached_archive(folder: Path, ref: str, label: str, cmd: tuple[str, ...] = DEFAULT_CMD) -> Path:
    """The archive of `ref`, written once into `folder` (named by a digest of busybox, this
    module's recipe and the arguments: a new busybox or recipe writes a new one)."""
    recipe = hashlib.sha256()
    for part in (
        BUSYBOX.read_bytes(),
        Path(__file__).read_bytes(),
        ref.encode(),
        label.encode(),
        repr(cmd).encode(),
    ):
        recipe.update(hashlib.sha256(part).digest())
    path = folder / f"{label}-{recipe.hexdigest()[:16]}.tar"
    if not path.is_file():
        partial = path.with_suffix(".partial")
        write_oci_archive(partial, ref, label, cmd)
        partial.rename(path)
    return path


def write_oci_archive(out: Path, ref: str, label: str, cmd: tuple[str, ...] = DEFAULT_CMD) -> str:
    """Write the image `ref` (``name:tag``) with content `label` to `out`; return its manifest digest."""
    layer_tar = _layer(label)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=1) as stream:
        stream.write(layer_tar)
    layer = gz.getvalue()
    epoch = "1970-01-01T00:00:00Z"
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": epoch,
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": list(cmd),
            "WorkingDir": "/",
            "Labels": {"flotilla.image": label},
        },
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
        "history": [{"created": epoch, "created_by": "flotilla.devcluster.images busybox-static"}],
    }
    return write_archive(out, ref, [BlobLayer(_digest(layer), len(layer), layer)], config)


class ArchiveLayer(Protocol):
    """A gzip layer blob as :func:`write_archive` takes it: its digest (``sha256:<hex>``), its size
    and its bytes or the file holding them (:class:`flotilla.devcluster.image.Layer` is one)."""

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def blob(self) -> Path | bytes: ...


@dataclass(frozen=True)
class BlobLayer:
    """A layer blob held in memory."""

    digest: str
    size: int
    blob: bytes


def write_archive(out: Path, ref: str, layers: Sequence[ArchiveLayer], config: dict[str, object]) -> str:
    """The OCI image layout tar (what ``ctr images import`` takes) of the image `ref`
    (``name:tag``) made of `layers` and the image `config`; returns the manifest's digest."""
    config_blob = json.dumps(config, sort_keys=True).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config_blob),
                "size": len(config_blob),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer.digest,
                    "size": layer.size,
                }
                for layer in layers
            ],
        },
        sort_keys=True,
    ).encode()
    manifest_digest = _digest(manifest)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                    },
                }
            ],
        },
        sort_keys=True,
    ).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as archive:

        def put(name: str, size: int, data: IO[bytes]) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, 0o644, 0
            archive.addfile(info, data)

        def put_bytes(name: str, data: bytes) -> None:
            put(name, len(data), io.BytesIO(data))

        put_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put_bytes(_blob_name(manifest_digest), manifest)
        put_bytes(_blob_name(_digest(config_blob)), config_blob)
        for layer in layers:
            blob = layer.blob
            if isinstance(blob, Path):
                with blob.open("rb") as data:
                    put(_blob_name(layer.digest), layer.size, data)
            else:
                put(_blob_name(layer.digest), layer.size, io.BytesIO(blob))
        put_bytes("index.json", index)
    return manifest_digest
