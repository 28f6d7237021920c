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


#: github.com/openkruise/kruise release: kruise-manager (the yardstick of `make conformance
#: BASELINE=kruise`) and kruise's e2e test binary are built from it.
KRUISE: Final = "v1.9.1"

#: go.sum lines pinning KRUISE: the checksum database does not answer for openkruise modules
#: (GONOSUMDB=github.com/openkruise), so the wrapper module carries their hashes.
KRUISE_GO_SUM: Final = (
    "github.com/openkruise/kruise v1.9.1 h1:KsI/9SNGzTlEClnLj6imxh6rynxA0UFvY2/3gbsWghk=",
    "github.com/openkruise/kruise v1.9.1/go.mod h1:4ayXEs/W6sPTKPOeKsOB9B6FA5WVHHrK3UKKXgO0QTM=",
)

#: github.com/onsi/ginkgo/v2 release whose CLI runs kruise's e2e binary in parallel: the one
#: kruise v1.9.1's go.mod requires.
GINKGO: Final = "v2.23.4"
