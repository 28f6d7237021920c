"""The Kubernetes transport error hierarchy, and the one function that maps responses onto it.

Everything that talks to the API server (``flotilla.runtime.kube``) raises only these; callers
decide by class, never by status code: :class:`Transient` is retried (``flotilla.runtime.retry``),
:class:`Conflict` means "re-plan from fresh state", :class:`NotFound` is usually fine to ignore,
:class:`Terminal` will not get better by retrying (bad request, forbidden, invalid object).
"""

from __future__ import annotations

import orjson


class KubeError(Exception):
    """An API request failed. ``status`` is the HTTP code (0 when no response arrived); ``method``
    the request's HTTP method ('' when not known), e.g. to tell a write's 404 from a read's."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", method: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.method = method


class NotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class Conflict(KubeError):
    """409: a stale resourceVersion or a concurrent writer; re-read and re-plan."""


class AlreadyExists(Conflict):
    """409 AlreadyExists on create: someone else created it; re-read and re-plan."""


class Gone(KubeError):
    """410: the watch resourceVersion is too old; relist."""


class Transient(KubeError):
    """429, 5xx, timeouts, connection errors: retry, after ``retry_after`` seconds when given."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        method: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message, status=status, reason=reason, method=method)
        self.retry_after = retry_after


class Terminal(KubeError):
    """400, 401, 403, 405, 422 and friends: retrying the same request will not help."""


class NamespaceTerminating(Terminal):
    """403 with cause ``NamespaceTerminating``: the namespace is being deleted, so nothing new may
    be created in it, and everything in it is going away; a reconcile there has nothing to do."""


class Fenced(KubeError):
    """A write refused *before it was sent*: the reconcile could not prove it still holds its key's
    lease (:data:`flotilla.runtime.kube.WRITE_FENCE`). Never retried; the runtime hands the key back."""


def _status_message(body: bytes) -> tuple[str, str, tuple[str, ...]]:
    """``(message, reason, cause reasons)`` of a ``Status`` body; the raw text when it is not one."""
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace"), "", ()
    if isinstance(status, dict):
        details = status.get("details")
        causes = details.get("causes") if isinstance(details, dict) else None
        cause_reasons = tuple(
            str(cause.get("reason", "")) for cause in causes or () if isinstance(cause, dict)
        )
        return str(status.get("message", "")), str(status.get("reason", "")), cause_reasons
    return str(status)[:300], "", ()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(
    status: int, body: bytes, *, method: str, path: str, retry_after: str | None = None
) -> KubeError:
    """The exception for a non-2xx API response (the one place status codes are interpreted)."""
    message, reason, causes = _status_message(body)
    text = f"{method} {path}: {status} {reason or ''} {message}".strip()
    if status == 404:
        return NotFound(text, status=status, reason=reason, method=method)
    if status == 409:
        kind = AlreadyExists if reason == "AlreadyExists" else Conflict
        return kind(text, status=status, reason=reason, method=method)
    if status == 410:
        return Gone(text, status=status, reason=reason, method=method)
    if status == 429 or status >= 500:
        return Transient(
            text, status=status, reason=reason, method=method, retry_after=_retry_after(retry_after)
        )
    if status == 403 and "NamespaceTerminating" in causes:
        return NamespaceTerminating(text, status=status, reason=reason, method=method)
    return Terminal(text, status=status, reason=reason, method=method)


def error_from_exception(exc: BaseException, *, method: str, path: str) -> KubeError:
    """A connection-level failure (refused, reset, timeout, TLS) as a :class:`Transient`."""
    return Transient(f"{method} {path}: {type(exc).__name__}: {exc}", method=method)
