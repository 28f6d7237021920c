"""Counters from Prometheus text, and what changed between two scrapes.

`counters(text, wanted)` sums the samples of the wanted counter families over every label
except the ones kept (e.g. ``apiserver_request_total`` by verb and resource), giving flat
keys like ``apiserver_request_total{resource=pods,verb=POST}``; `delta` subtracts two such
readings. Pure; the scraping itself (API server ``/metrics``, Flotilla's ``/metrics``) is
done by the caller (``benchmarks/cloneset_scenarios.py``) so a run can say how many API
requests, reconciles and triggers each variant cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client.parser import text_string_to_metric_families

#: counter family (as exposed, with ``_total``) -> labels kept; every other label is summed over.
Wanted = Mapping[str, Sequence[str]]


def counters(text: str, wanted: Wanted) -> dict[str, float]:
    """Flat ``name{label=value,...}`` -> value for the wanted counters in ``text``."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            keep = wanted.get(sample.name)
            if keep is None:
                continue
            labels = ",".join(f"{k}={sample.labels.get(k, '')}" for k in keep)
            key = f"{sample.name}{{{labels}}}" if keep else sample.name
            out[key] = out.get(key, 0.0) + float(sample.value)
    return out


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """``after - before`` for every key that changed (counters only grow; new keys start at 0)."""
    changed: dict[str, float] = {}
    for key, value in after.items():
        grown = value - before.get(key, 0.0)
        if grown:
            changed[key] = grown
    return dict(sorted(changed.items()))
