"""The soak (tests/support/soak.py) as CI runs it: 3 minutes (``SOAK_MINUTES`` to change) of 50
CloneSets under random spec churn while workers, watcher, NATS, kube-apiserver and etcd are
killed at random; zero violations. ``make soak`` runs the same for 30 minutes on its own cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from schemas.crdgen import install_crds
from tests.support.fleet import fault_seed
from tests.support.soak import soak


@pytest.mark.timeout(1500)
async def test_soak(dev_env: DevEnvironment, api_client: k8s.ApiClient, tmp_path: Path) -> None:
    install_crds(api_client)
    minutes = float(os.environ.get("SOAK_MINUTES", "3"))
    report = await soak(dev_env, minutes, fault_seed(), tmp_path / "logs")
    assert sum(report.faults.values()) > 0
    assert report.checks > 0
    assert report.violations == []
