"""The real node's generated configuration (flotilla.devcluster.realnode) carries every setting
the tried recipe (shared/real-node: containerd-config.toml, kubelet-config.yaml) found necessary
on this kind of machine; expected values are the recipe's, written here by hand."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from flotilla.devcluster import realnode
from flotilla.devcluster.pki import make_ca


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> realnode.RealNode:
    monkeypatch.setattr(realnode, "STATE_DIR", tmp_path / "state")
    (tmp_path / "state" / "containerd").mkdir(parents=True)
    (tmp_path / "state" / "pki").mkdir(parents=True)
    return realnode.RealNode(
        server="https://127.0.0.1:6443", ca=make_ca(tmp_path / "ca"), api=lambda *a: b"{}"
    )


def test_containerd_config_is_toml_with_the_recipes_settings(node: realnode.RealNode, tmp_path: Path) -> None:
    config = tomllib.loads(node._containerd_config().read_text())
    state = tmp_path / "state"
    assert config["version"] == 2
    assert config["root"] == f"{state}/containerd/root"
    assert config["grpc"]["address"] == f"{state}/containerd/containerd.sock"
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "flotilla.local/pause:1"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is False
    assert cri["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": f"{state}/cni/net.d"}
    assert cri["registry"]["config_path"] == f"{state}/containerd/certs.d"


def test_kubelet_config_has_the_recipes_settings_and_the_taint(
    node: realnode.RealNode, tmp_path: Path
) -> None:
    config = yaml.safe_load(node._kubelet_config().read_text())
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == "/"
    assert config["failSwapOn"] is False
    assert config["evictionHard"] == {}
    assert config["imageGCHighThresholdPercent"] == 100
    assert config["address"] == "198.18.0.1"
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["registerWithTaints"] == [
        {"key": "flotilla.io/real-node", "value": "true", "effect": "NoSchedule"}
    ]
    assert config["containerRuntimeEndpoint"] == f"unix://{tmp_path}/state/containerd/containerd.sock"
    assert config["podLogsDir"] == f"{tmp_path}/state/pod-logs"
