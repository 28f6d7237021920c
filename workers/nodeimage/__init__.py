"""The NodeImage worker (kruise-manager's ``nodeimage`` controller): one NodeImage per Node.

``planner`` decides (pure), ``worker`` is the runtime shell (``WORKER``, type ``nodeimage``).
"""

from workers.nodeimage.worker import WORKER

__all__ = ["WORKER"]
