"""CRDs generated from the kruise models: ``openapi`` (model → schema), ``generate`` (CRD files,
drift check), ``install`` (apply to a cluster), ``cli`` (``flotilla crds ...``).

``install_crds`` is re-exported here for tests and tools:
``from schemas.crdgen import install_crds``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.crdgen.install import install_crds

__all__ = ["install_crds"]


def __getattr__(name: str) -> Any:
    # Lazy, so `flotilla crds generate` does not import the kubernetes client.
    if name == "install_crds":
        from schemas.crdgen.install import install_crds

        return install_crds
    raise AttributeError(name)
