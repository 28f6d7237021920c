"""Prometheus series of the watcher, the workers, the webhook and the node agent, defined once,
in the default registry.

Served by :mod:`flotilla.runtime.httpserver` on ``/metrics``. Labels are low-cardinality
(worker type, outcome, verb, HTTP code); never a key or a name.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "flotilla_reconciles_total",
    "Reconciles finished, by worker type and outcome (success, requeue, conflict, error, dead_letter).",
    ["type", "outcome"],
)
RECONCILE_DURATION = Histogram(
    "flotilla_reconcile_duration_seconds",
    "Wall time of one reconcile (observe + plan + act).",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TRIGGER_LATENCY = Histogram(
    "flotilla_trigger_latency_seconds",
    "From the watcher observing an event (envelope observed_at) to the worker starting its plan.",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_PENDING = Gauge(
    "flotilla_consumer_pending_messages",
    "Consumer lag: triggers in the stream not yet delivered to this type's consumer.",
    ["type"],
)
CONSUMER_ACK_PENDING = Gauge(
    "flotilla_consumer_ack_pending_messages",
    "Triggers delivered to this type's consumer and not yet acknowledged.",
    ["type"],
)
IN_FLIGHT = Gauge("flotilla_reconciles_in_flight", "Reconciles running in this process.", ["type"])
EVENTS_PUBLISHED = Counter(
    "flotilla_events_published_total",
    "Reconcile triggers published by the watcher, by worker type.",
    ["type"],
)
DEAD_LETTERS = Counter(
    "flotilla_dead_letters_total",
    "Triggers dead-lettered, by worker type and reason (failures, malformed, unsupported_version).",
    ["type", "reason"],
)
LEASE_CONFLICTS = Counter(
    "flotilla_lease_conflicts_total",
    "Triggers handed back because another replica held the key's lease.",
    ["type"],
)
TRIGGERS_COALESCED = Counter(
    "flotilla_triggers_coalesced_total",
    "Triggers for a key this process was already reconciling: held for one follow-up reconcile "
    "under the same lease (or folded into a newer held trigger), never handed back.",
    ["type"],
)
LEASES_LOST = Counter(
    "flotilla_leases_lost_total",
    "Reconciles aborted because their lease could not be renewed in time.",
    ["type"],
)
FENCED_WRITES = Counter(
    "flotilla_fenced_writes_total",
    "API writes refused before sending because the reconcile's lease could not be proven.",
    ["type"],
)
KUBE_REQUESTS = Counter(
    "flotilla_kube_requests_total",
    "Kubernetes API requests, by verb and HTTP status code ('error' when no response).",
    ["verb", "code"],
)
KUBE_EVENTS_DROPPED = Counter(
    "flotilla_worker_events_dropped_total",
    "Kubernetes Events not written because their object's spam-filter bucket was empty, by reason.",
    ["reason"],
)
ADMISSIONS = Counter(
    "flotilla_webhook_admissions_total",
    "AdmissionReviews answered by the webhook, by path, kind, operation and outcome "
    "(allowed, patched, denied, malformed).",
    ["path", "kind", "operation", "outcome"],
)
ADMISSION_DURATION = Histogram(
    "flotilla_webhook_admission_duration_seconds",
    "Wall time of one AdmissionReview in the webhook (parse, gather, decide, answer).",
    ["path"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WEBHOOK_CERT_EXPIRY = Gauge(
    "flotilla_webhook_certificate_expiry_timestamp_seconds",
    "When the serving certificate the webhook presents expires (Unix time).",
)
NODE_AGENT_CRRS = Counter(
    "flotilla_node_agent_crrs_handled_total",
    "ContainerRecreateRequests handled by the node agent, by outcome (progressed: a phase or "
    "container state written; completed; deleted: TTL; waiting: nothing to write yet; error).",
    ["outcome"],
)
CRI_CALL_DURATION = Histogram(
    "flotilla_node_agent_cri_call_duration_seconds",
    "Wall time of one CRI call of the node agent, by method and gRPC code (OK or the error's).",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
