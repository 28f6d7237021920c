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
- ``templates``: the one normalisation of pod templates (canonical for comparing, Go-encoded for
  recording), as kruise's Go encoding of ``PodTemplateSpec`` gives it.
- ``revisions``: ControllerRevision data, hash and name, equality, the current / update revision,
  rollback renumbering, ``revisionHistoryLimit`` (``pkg/util/revision``, ``controller/history``,
  ``getActiveRevisions``, ``truncateHistory``).
- ``inplace``: what can change in place, the in-place pod patch (with the workload's revision
  labels), the grace period, completion, the per-pod refresh (``pkg/util/inplaceupdate``:
  ``Update``, ``Refresh``).
- ``slowstart``: creations in batches of 1, 2, 4, ... (``slowStartBatch``, ``DoItSlowly``).
- ``envmeta``: env from pod labels / annotations in in-place updates, kruise's env hash and the
  restart check (``pkg/util/containermeta``, ``InPlaceUpdateEnvFromMetadata``).
- ``lifecycle``: the ``lifecycle.apps.kruise.io/state`` label machine and a pod's next state,
  ``KruisePodReady`` (``markPodNotReady``, first True) and readiness-gate condition patches
  (``pkg/util/lifecycle``, ``pkg/util/podreadiness``, ``util.SetPodReadyCondition``, the
  lifecycle half of ``refreshPodState``).
- ``podwrites``: the pod patch and Event records these steps produce (no kruise counterpart:
  kruise writes at once, Flotilla plans writes as data).
- ``updatesort``: update ordering by ``priorityStrategy`` (weight / order) and
  ``scatterStrategy`` (``pkg/util/updatesort``).
- ``inplaceupdate``: one pod's in-place update as both workloads run it: the inPlaceUpdate hook's
  lifecycle switch, ``InPlaceUpdateReady`` False, the patch and its Events
  (``cloneset_update.go`` / ``stateful_set_control.go`` around ``inplaceupdate.Update``).
- ``gohash``: Go's FNV-1 / FNV-1a, ``rand.SafeEncodeString`` and ``json.Marshal`` escapes, the one
  copy behind revision names and kruise's hashes (``hash/fnv``, ``k8s.io/apimachinery`` rand).
"""
