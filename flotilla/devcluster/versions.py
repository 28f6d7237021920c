"""Pinned versions of every external binary the local control plane uses.

This is the one place to change a version. `toolchain.py` builds what is pinned
here from the Go modules into the tool cache, keyed by version, so a bump
rebuilds and an unchanged pin reuses the cache.
"""

from __future__ import annotations

from typing import Final

#: k8s.io/kubernetes release: kube-apiserver, kube-controller-manager,
#: kube-scheduler and kubectl are built from it. 1.36 is built with Go 1.26.
KUBERNETES: Final = "v1.36.3"

#: etcd release; the one k8s.io/kubernetes v1.36.3 itself requires.
ETCD: Final = "v3.6.8"

#: sigs.k8s.io/kwok release (fake nodes whose pods go Running).
KWOK: Final = "v0.8.0"

#: helm.sh/helm/v3 release.
HELM: Final = "v3.19.0"

#: The Kubernetes minor version HELM's client-go speaks (k8s.io/client-go v0.34 for helm
#: v3.19); `helm template` and `helm lint` assume it when no cluster is asked.
HELM_KUBERNETES_MINOR: Final = "34"

#: github.com/jaegertracing/jaeger release whose cmd/jaeger is Jaeger v2.
JAEGER: Final = "v1.76.0"


def staging_version(kubernetes_version: str) -> str:
    """Published twin of the k8s.io staging modules: v1.36.3 -> v0.36.3."""
    major_minor_patch = kubernetes_version.lstrip("v").split(".")
    return "v0." + ".".join(major_minor_patch[1:])
