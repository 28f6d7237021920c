"""Structured (JSON) logs carrying the reconcile id and key from contextvars.

:func:`setup_logging` is called once by each command. The worker runtime wraps a reconcile in
:func:`reconcile_context`; every log line inside it, in any module, carries ``key`` and
``reconcile_id`` (and the trace id when a span is active) without passing them around.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from opentelemetry import trace

reconcile_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("reconcile_key", default=None)
reconcile_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("reconcile_id", default=None)


@contextmanager
def reconcile_context(key: str) -> Iterator[str]:
    """Bind ``key`` and a fresh reconcile id for the duration; yields the id."""
    rid = uuid.uuid4().hex[:16]
    key_token = reconcile_key.set(key)
    id_token = reconcile_id.set(rid)
    try:
        yield rid
    finally:
        reconcile_key.reset(key_token)
        reconcile_id.reset(id_token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        key = reconcile_key.get()
        if key is not None:
            line["key"] = key
            line["reconcile_id"] = reconcile_id.get()
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        return orjson.dumps(line, default=str).decode()


def setup_logging(level: str | None = None) -> None:
    """JSON lines on stderr at ``level`` (or ``FLOTILLA_LOG_LEVEL``, default INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("FLOTILLA_LOG_LEVEL", "INFO")).upper())
    logging.getLogger("nats").setLevel(logging.WARNING)
