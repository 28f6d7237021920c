"""The snapshot and the config most worker shells share, written once.

A shell whose object is named by its key (namespace and name) and may be gone observes into a
:class:`KeyedSnapshot` of its planner's observed state: ``observed`` is None when the object is
gone (``plan`` then plans nothing), else what the planner reads. A planner with no tunables takes
:class:`NoConfig` as its ``config``. A shell names both for its own types
(``Snapshot = KeyedSnapshot[planner.Observed]``, ``Config = NoConfig``), so its ``plan`` and its
``WorkerType`` read as before. See :mod:`workers.runtime.contract` for the roles of both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Observed = TypeVar("Observed")


@dataclass(frozen=True)
class KeyedSnapshot(Generic[Observed]):
    """What ``observe`` read for the key ``namespace/name``."""

    namespace: str
    name: str
    observed: Observed | None
    """None: the object is gone (what it owned goes with it, by garbage collection)."""


@dataclass(frozen=True)
class NoConfig:
    """The planner has no tunables today."""
