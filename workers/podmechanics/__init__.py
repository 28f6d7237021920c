"""Pod mechanics shared by Flotilla's kruise workload workers (CloneSet, Advanced StatefulSet, ...).

OpenKruise keeps what its workloads do to pods in shared packages under ``pkg/util`` and
``pkg/controller/...``; CloneSet, Advanced StatefulSet and SidecarSet all call the same code.
This package is that code for Flotilla: pure functions over pods, templates and revisions kept
as plain JSON, with no I/O and no knowledge of which workload owns the pods. A workload worker
(``workers.cloneset``, ``workers.statefulset``, ...) passes in what it needs (a pod template, a
selector, an update strategy's in-place settings, a lifecycle spec) and turns the results into
its own plan steps.

Modules and the kruise code each mirrors:

- ``kube_json``: typed, total reads of Kubernetes objects kept as JSON dicts (no kruise
  counterpart: kruise reads typed Go structs).
- ``pods``: a pod read once into a ``PodView``; readiness, availability (``minReadySeconds``),
  update-ready, lifecycle state, revision hash, hook matching, specified-delete, deletion cost
  (``podutil.IsPodReady`` / ``IsPodAvailable``, ``kubecontroller.IsPodActive``, kruise
  ``IsPodUpdateReady``, ``lifecycle.IsPodHooked``, ``specifieddelete``).
- ``ownership``: selectors, controller ownerReferences, adoption and release of pods
  (``refmanager.ClaimOwnedObjects``, ``labels.Selector.String``).
"""
