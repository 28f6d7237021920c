"""The worker runtime: everything a worker type needs and none writes twice.

A worker type (``workers/<type>/``) declares a :class:`~workers.runtime.contract.WorkerType`
(kind, observe, plan, act); :mod:`workers.runtime.consumer` binds its durable consumer and
runs reconciles with per-key leases, retries, dead-lettering, tracing and metrics;
``flotilla worker <type>`` (:mod:`workers.runtime.cli`) starts one process. See docs/runtime.md.
"""
