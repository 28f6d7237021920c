"""Process plumbing shared by the watcher and the workers.

``kube`` (the API client, built once), ``errors`` (transport error hierarchy), ``retry``
(tenacity policy), ``natsconn`` (connect with reconnect), ``tracing`` (OpenTelemetry from
``OTEL_*`` and W3C context in NATS headers), ``metrics`` (Prometheus series),
``httpserver`` (``/metrics``, ``/healthz``, ``/readyz``), ``health`` (readiness checks),
``logs`` (structured logs with reconcile id and key). See docs/runtime.md.
"""
