"""The real node's offline images (flotilla.devcluster.images): a valid OCI image layout whose
blobs are named by their own sha256, one layer holding busybox and the label, distinct content
(and digests) per tag, and the same bytes when built twice (cache-friendly, reproducible).
Without busybox-static (`flotilla dev tools` installs it) they fail naming the package."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from flotilla.devcluster import images


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_archive_is_an_oci_layout_with_self_named_blobs(tmp_path: Path) -> None:
    digest = images.write_oci_archive(tmp_path / "v1.tar", "flotilla.local/busybox:v1", "v1")
    files = _read(tmp_path / "v1.tar")
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert name.rsplit("/", 1)[1] == hashlib.sha256(data).hexdigest()
    [entry] = json.loads(files["index.json"])["manifests"]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == "flotilla.local/busybox:v1"
    manifest = json.loads(files["blobs/sha256/" + digest.split(":")[1]])
    [layer] = manifest["layers"]
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    layer_tar = gzip.decompress(files["blobs/sha256/" + layer["digest"].split(":")[1]])
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tf:
        assert tf.extractfile("etc/flotilla-image").read() == b"v1\n"  # type: ignore[union-attr]
        assert tf.extractfile("bin/busybox").read() == images.BUSYBOX.read_bytes()  # type: ignore[union-attr]
        assert tf.getmember("bin/sh").linkname == "busybox"


def test_tags_differ_in_content_and_builds_are_reproducible(tmp_path: Path) -> None:
    one = images.write_oci_archive(tmp_path / "a.tar", "x/busybox:v1", "v1")
    two = images.write_oci_archive(tmp_path / "b.tar", "x/busybox:v2", "v2")
    again = images.write_oci_archive(tmp_path / "c.tar", "x/busybox:v1", "v1")
    assert one != two
    assert one == again
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "c.tar").read_bytes()
