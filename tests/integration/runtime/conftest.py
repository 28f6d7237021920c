"""Fixtures of the runtime integration tests (shared with the worker fault tests)."""

from tests.support.fixtures import kube, record_dir, start_worker, testcm_bus

__all__ = ["kube", "record_dir", "start_worker", "testcm_bus"]
