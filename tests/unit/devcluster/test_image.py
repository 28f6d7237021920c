"""The image builder's layers and OCI archive (`flotilla.devcluster.image`), without building
the real image: two small layers made through the same cache, an archive of them, and the archive
read back and checked against digests computed here from its own bytes (hashlib, gzip), the way
``ctr images import`` resolves it (index -> manifest -> config and layers)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from flotilla.devcluster import image


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar_of(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _writer(files: dict[str, bytes], calls: list[str]) -> Callable[[IO[bytes]], None]:
    def write(stream: IO[bytes]) -> None:
        calls.append("write")
        stream.write(_tar_of(files))

    return write


def test_a_layer_is_made_once_per_key_and_its_digests_are_the_blobs(tmp_path: Path) -> None:
    calls: list[str] = []
    files = {"opt/flotilla/lib/a.py": b"print('a')\n"}
    first = image._store_layer("deps", "k" * 64, tmp_path, _writer(files, calls))
    again = image._store_layer("deps", "k" * 64, tmp_path, _writer(files, calls))
    assert calls == ["write"], "the second build of the same key comes from the cache"
    assert (first.cached, again.cached) == (False, True)
    blob = first.blob.read_bytes()
    assert first.digest == again.digest == _sha(blob)
    assert first.size == len(blob)
    assert first.diff_id == _sha(gzip.decompress(blob)) == _sha(_tar_of(files))
    other = image._store_layer("deps", "j" * 64, tmp_path, _writer(files, calls))
    assert calls == ["write", "write"], "another key is another layer"
    assert not other.cached


def test_the_archive_resolves_from_index_to_layers(tmp_path: Path) -> None:
    layers = [
        image._store_layer("base", "b" * 64, tmp_path, _writer({"usr/bin/python3.11": b"x"}, [])),
        image._store_layer("app", "a" * 64, tmp_path, _writer({"usr/local/bin/flotilla": b"y"}, [])),
    ]
    config = image.image_config(layers, "python3.11")
    ref = "flotilla.local/flotilla:dev-0123456789ab"
    out = tmp_path / "image.oci.tar"
    returned = image.write_archive(out, ref, layers, config)

    with tarfile.open(out) as archive:
        blobs = {
            "sha256:" + m.name.rsplit("/", 1)[1]: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.name.startswith("blobs/sha256/")
        }
        index = json.loads(archive.extractfile("index.json").read())  # type: ignore[union-attr]
        layout = json.loads(archive.extractfile("oci-layout").read())  # type: ignore[union-attr]
    assert layout == {"imageLayoutVersion": "1.0.0"}
    for digest, data in blobs.items():
        assert _sha(data) == digest, "every blob is named by its content"
    [entry] = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == ref
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "dev-0123456789ab"
    assert entry["digest"] == returned
    manifest = json.loads(blobs[entry["digest"]])
    assert entry["size"] == len(blobs[entry["digest"]])
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in layers]
    assert [layer["size"] for layer in manifest["layers"]] == [len(blobs[layer.digest]) for layer in layers]
    stored_config = json.loads(blobs[manifest["config"]["digest"]])
    diff_ids = [_sha(gzip.decompress(blobs[layer.digest])) for layer in layers]
    assert stored_config["rootfs"]["diff_ids"] == diff_ids
    run = stored_config["config"]
    assert run["User"] == "65532:65532", "a numeric non-root user, as the chart's runAsNonRoot needs"
    assert run["Entrypoint"] == ["flotilla"]
    assert "PYTHONDONTWRITEBYTECODE=1" in run["Env"], "the root filesystem is read-only in the pod"
    assert f"FLOTILLA_CRI_STUBS={image.CRI_STUBS}" in run["Env"]


def test_the_source_digest_sees_every_file_but_byte_code(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "mod.py").write_text("A = 1\n")
    before = image.tree_digest([package], tmp_path)
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    assert image.tree_digest([package], tmp_path) == before
    (package / "mod.py").write_text("A = 2\n")
    changed = image.tree_digest([package], tmp_path)
    assert changed != before
    (package / "data.yaml").write_text("a: 1\n")
    assert image.tree_digest([package], tmp_path) != changed


def test_a_layer_from_a_private_folder_is_readable_by_the_images_user(tmp_path: Path) -> None:
    """The CRI stubs' cache folder is a mkdtemp (0700); copied as is, the node agent's pod (UID
    65532) failed with EACCES on it. Every entry of a layer is readable (dirs enterable) by all."""
    stage = tmp_path / "root"
    private = stage / "opt" / "flotilla" / "cri"
    private.mkdir(parents=True)
    private.chmod(0o700)
    (private / "api_pb2.py").write_text("")
    (private / "api_pb2.py").chmod(0o600)
    layer = image._store_layer("app", "p" * 64, tmp_path / "cache", lambda s: image._tar_tree(s, stage))
    with tarfile.open(layer.blob, "r:gz") as tf:
        modes = {m.name: m.mode for m in tf.getmembers()}
        owners = {(m.uid, m.gid) for m in tf.getmembers()}
    assert modes["opt/flotilla/cri"] & 0o555 == 0o555
    assert modes["opt/flotilla/cri/api_pb2.py"] & 0o444 == 0o444
    assert owners == {(0, 0)}
