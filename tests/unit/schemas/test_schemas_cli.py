"""`flotilla crds generate|check` through the real command line entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from flotilla.cli import main


def test_generate_then_check_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "generate", "--dir", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.yaml"))) == 11  # one per kind of schemas/kruise/registry.py
    assert main(["crds", "check", "--dir", str(tmp_path)]) == 0
    assert "match the models" in capsys.readouterr().out


def test_check_fails_on_a_hand_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["crds", "generate", "--dir", str(tmp_path)])
    path = tmp_path / "apps.kruise.io_clonesets.yaml"
    path.write_text(path.read_text().replace("clone\n", "cs\n"))
    assert main(["crds", "check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "changed: apps.kruise.io_clonesets.yaml" in err
    assert "flotilla crds generate" in err
