"""Fixtures of the watcher's integration tests (defined in the harness; ``kube`` is the shared one)."""

from tests.integration.watcher.harness import collector_fixture, setup_fixture
from tests.support.fixtures import kube

__all__ = ["collector_fixture", "kube", "setup_fixture"]
