"""The CRI stubs are generated from k8s.io/cri-api's own api.proto (nodeagent.cri.stubs), checked
against the pinned SHA-256, never hand-written: the generated service has kruise-daemon's calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodeagent.cri import stubs


def test_generated_from_the_pinned_proto(tmp_path: Path) -> None:
    out = stubs.generate(tmp_path / "cri")
    package = out / stubs.PACKAGE
    assert (package / "api.proto").read_bytes() == stubs.proto_source()
    service = (package / "api_pb2_grpc.py").read_text()
    for call in ("ListContainers", "ContainerStatus", "ExecSync", "StopContainer", "Version"):
        assert f"/runtime.v1.RuntimeService/{call}" in service
    assert "class ImageServiceStub" in service


def test_a_proto_that_differs_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stubs, "_from_module_cache", lambda: b"syntax = 'proto3';")
    with pytest.raises(stubs.StubsError, match="expected 6d130c26"):
        stubs.proto_source()


def test_configured_folder_without_stubs_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(stubs.STUBS_ENV, str(tmp_path))
    with pytest.raises(stubs.StubsError, match="holds no generated flotilla_cri"):
        stubs.ensure_stubs()
