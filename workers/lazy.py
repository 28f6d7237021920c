"""A worker package's lazy ``WORKER``: written once for every ``workers/<type>/__init__.py``.

The runtime loads a type as ``workers.<type>:WORKER`` (:func:`workers.runtime.cli.load_worker`);
the package imports its shell (``workers.<type>.worker``, which pulls in the runtime, NATS and
the API client) only when ``WORKER`` is first read, so its planner and the planner's tests stay
light. A worker package registers with two lines::

    from workers.lazy import lazy_worker

    __getattr__ = lazy_worker(__name__)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_worker(package: str) -> Callable[[str], object]:
    """The module ``__getattr__`` (PEP 562) of ``package``: ``WORKER`` from ``<package>.worker``."""

    def __getattr__(name: str) -> object:
        if name == "WORKER":
            return importlib.import_module(f"{package}.worker").WORKER
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
