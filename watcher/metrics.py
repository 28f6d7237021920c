"""Prometheus metrics of the watcher beyond the runtime's shared ones (``flotilla_events_published_total``).

Updated by :mod:`watcher.pipeline`, :mod:`watcher.informer` and :mod:`watcher.service`;
served on ``/metrics`` by the runtime's health server.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "flotilla_watcher_events_total",
    "Watch events received, by resource and event type",
    ["resource", "event"],
)
TRIGGERS_DUPLICATE = Counter(
    "flotilla_watcher_triggers_duplicate_total",
    "Triggers JetStream dropped as duplicates (Nats-Msg-Id)",
    ["type"],
)
PUBLISH_FAILURES = Counter(
    "flotilla_watcher_publish_failures_total", "Publishes retried after an error or timeout"
)
UPDATES_SKIPPED = Counter(
    "flotilla_watcher_updates_skipped_total",
    "Triggers not published: an update of an owned pod that cannot change the type's plan "
    "(--cloneset-event-filter=on; watcher.podupdates)",
    ["type"],
)
RELISTS = Counter(
    "flotilla_watcher_relists_total", "Full lists of a resource, by reason", ["resource", "reason"]
)
RESYNCS = Counter("flotilla_watcher_resyncs_total", "Resyncs that re-triggered every key of a type", ["type"])
PENDING = Gauge("flotilla_watcher_pending_triggers", "Triggers waiting to be published (coalesced per key)")
IS_LEADER = Gauge("flotilla_watcher_is_leader", "1 while this replica holds the watcher Lease")
LATENCY = Histogram(
    "flotilla_watcher_event_to_publish_seconds",
    "Seconds from reading a watch event to JetStream acknowledging its trigger",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
