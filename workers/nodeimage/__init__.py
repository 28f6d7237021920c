"""The NodeImage worker (kruise-manager's ``nodeimage`` controller): one NodeImage per Node.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type ``nodeimage``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.lazy import lazy_worker

if TYPE_CHECKING:
    from workers.nodeimage.worker import WORKER

__all__ = ["WORKER"]
__getattr__ = lazy_worker(__name__)
