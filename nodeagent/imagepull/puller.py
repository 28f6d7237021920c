"""kruise-daemon's image puller as pure functions (``pkg/daemon/imagepuller``, kruise v1.9.1).

The agent keeps one pull task per wanted ``image:tag`` of its node's NodeImage. These functions
decide, from the NodeImage (spec + the status last written) and the tasks running:

* :func:`sync_tags` (``realWorkerPool.Sync``): a tag whose status for the spec's ``version`` is
  finished (``completionTime``) keeps that status and gets no task; every other wanted tag gets a
  task (a running one for an older version, or for a tag no longer wanted, is stopped);
* :func:`attempt` (``pullWorker.Run``): the timeout of the next attempt, or the deadline's
  message (``pullPolicy.activeDeadlineSeconds`` since the task started); :func:`backoff` the
  wait between attempts (1 s doubling to 30 s); ``backoffLimit`` retries after the first try;
* :func:`node_status` (``Controller.sync``): the status the agent writes: per image the tags of
  the spec that have a status, sorted by tag, and the counts;
* :func:`still_pulling` (``isImageInPulling``): look again in 3 s, else in 20 minutes;
* :func:`pull_error` / :func:`go_code`: the messages kruise writes for a failed CRI call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]

DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_BACKOFF_LIMIT = 3
MAX_BACKOFF_SECONDS = 30.0
PULLING_RECHECK_SECONDS = 3.0
IDLE_RECHECK_SECONDS = 20 * 60.0
DEADLINE_MESSAGE = "pulling exceeds the activeDeadlineSeconds"

TagKey = tuple[str, str]
"""``(image name, tag)``."""


@dataclass(frozen=True)
class PullTask:
    """One tag to pull, as ``newPullWorker`` gets it."""

    image: str
    tag: str
    version: int
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    active_deadline_seconds: int | None = None
    always: bool = False
    """``imagePullPolicy: Always`` (else IfNotPresent: an image already there succeeds at once)."""
    pull_secrets: tuple[tuple[str, str], ...] = ()
    """``(namespace, name)`` of the image's pull secrets."""
    sandbox_labels: Mapping[str, str] = field(default_factory=dict)
    sandbox_annotations: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[JsonObject, ...] = ()
    """The tag's ownerReferences (the ImagePullJobs wanting it): a failure is an Event on each."""

    @property
    def key(self) -> TagKey:
        return (self.image, self.tag)

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class TagSync:
    """What :func:`sync_tags` decided."""

    start: tuple[PullTask, ...] = ()
    stop: tuple[TagKey, ...] = ()
    kept: Mapping[TagKey, JsonObject] = field(default_factory=dict)
    """Finished statuses taken from the object (no task for them)."""
    wanted: frozenset[TagKey] = frozenset()
    """Every tag of the spec (statuses of the others are forgotten)."""


def _int(value: object, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def _task(image: str, image_spec: JsonObject, tag_spec: JsonObject) -> PullTask:
    policy = tag_spec.get("pullPolicy") or {}
    backoff = _int(policy.get("backoffLimit"), DEFAULT_BACKOFF_LIMIT)
    deadline = policy.get("activeDeadlineSeconds")
    sandbox = image_spec.get("sandboxConfig") or {}
    secrets = tuple(
        (str(ref.get("namespace") or ""), str(ref.get("name") or ""))
        for ref in image_spec.get("pullSecrets") or ()
        if ref.get("name")
    )
    return PullTask(
        image=image,
        tag=str(tag_spec.get("tag") or ""),
        version=_int(tag_spec.get("version"), 0),
        timeout_seconds=_int(policy.get("timeoutSeconds"), DEFAULT_TIMEOUT_SECONDS),
        backoff_limit=DEFAULT_BACKOFF_LIMIT if backoff < 0 else backoff,
        active_deadline_seconds=_int(deadline, 0) if deadline is not None else None,
        always=tag_spec.get("imagePullPolicy") == "Always",
        pull_secrets=secrets,
        sandbox_labels=dict(sandbox.get("labels") or {}),
        sandbox_annotations=dict(sandbox.get("annotations") or {}),
        owners=tuple(tag_spec.get("ownerReferences") or ()),
    )


def sync_tags(node_image: JsonObject, running: Mapping[TagKey, int]) -> TagSync:
    """``realWorkerPool.Sync`` over every image: ``running`` maps each running task to its version."""
    images = (node_image.get("spec") or {}).get("images") or {}
    statuses = (node_image.get("status") or {}).get("imageStatuses") or {}
    start: list[PullTask] = []
    kept: dict[TagKey, JsonObject] = {}
    active: dict[TagKey, PullTask] = {}
    wanted: set[TagKey] = set()
    for image, image_spec in sorted(images.items()):
        tag_statuses = (statuses.get(image) or {}).get("tags") or ()
        for tag_spec in image_spec.get("tags") or ():
            task = _task(image, image_spec, tag_spec)
            wanted.add(task.key)
            done = next(
                (
                    s
                    for s in tag_statuses
                    if s.get("tag") == task.tag and _int(s.get("version"), 0) == task.version
                ),
                None,
            )
            if done is None or not done.get("completionTime"):
                active[task.key] = task
            else:
                kept[task.key] = done
    stop = tuple(
        sorted(key for key, version in running.items() if key not in active or active[key].version != version)
    )
    stopped = set(stop)
    for key, task in active.items():
        if key not in running or key in stopped:
            start.append(task)
    return TagSync(tuple(start), stop, kept, frozenset(wanted))


@dataclass(frozen=True)
class Attempt:
    """The next try of a pull: its timeout, or the message that ends the task."""

    timeout: float | None
    message: str = ""


def attempt(task: PullTask, elapsed: float) -> Attempt:
    """The next try, ``elapsed`` seconds after the task started (the deadline bounds each try)."""
    timeout = float(task.timeout_seconds)
    if task.active_deadline_seconds is not None:
        left = task.active_deadline_seconds - elapsed
        if left <= 0:
            return Attempt(None, DEADLINE_MESSAGE)
        timeout = min(timeout, left)
    return Attempt(timeout)


def backoff(failures: int) -> float:
    """The wait after the ``failures``-th failed try (1 s, 2 s, 4 s, ... at most 30 s)."""
    return min(2.0 ** (failures - 1), MAX_BACKOFF_SECONDS)


def go_code(grpc_code_name: str) -> str:
    """gRPC's code as Go prints it: ``NOT_FOUND`` -> ``NotFound``."""
    return "".join(part.capitalize() for part in grpc_code_name.split("_"))


def rpc_error(grpc_code_name: str, details: str) -> str:
    """A gRPC error as Go's ``status.Error`` prints it."""
    return f"rpc error: code = {go_code(grpc_code_name)} desc = {details}"


def pull_error(ref: str, grpc_code_name: str, details: str, with_auth: bool = False) -> str:
    """The message of a failed ``PullImage``: kruise wraps the anonymous pull's error; a pull
    with the secrets' credentials reports the runtime's error as it is."""
    error = rpc_error(grpc_code_name, details)
    return error if with_auth else f'Failed to pull image reference "{ref}": {error}'


def canceled(task: PullTask) -> str:
    """A try that ran out of its timeout."""
    return f"pulling image {task.image}:{task.tag} is canceled"


def node_status(node_image: JsonObject, tags: Mapping[TagKey, JsonObject]) -> JsonObject:
    """The NodeImage status the agent writes from its tags' statuses (``Controller.sync``)."""
    images = (node_image.get("spec") or {}).get("images") or {}
    desired = 0
    by_image: dict[str, JsonObject] = {}
    counts = {"Succeeded": 0, "Failed": 0, "Pulling": 0, "Waiting": 0}
    for image, image_spec in images.items():
        spec_tags = image_spec.get("tags") or ()
        desired += len(spec_tags)
        found = [tags[(image, str(t.get("tag")))] for t in spec_tags if (image, str(t.get("tag"))) in tags]
        if not found:
            continue
        found.sort(key=lambda s: str(s.get("tag")))
        by_image[image] = {"tags": found}
        for tag_status in found:
            phase = str(tag_status.get("phase"))
            if phase in counts:
                counts[phase] += 1
    succeeded, failed, pulling, waiting = (
        counts["Succeeded"],
        counts["Failed"],
        counts["Pulling"],
        counts["Waiting"],
    )
    status: JsonObject = {
        "desired": desired,
        "succeeded": succeeded,
        "failed": failed,
        "pulling": pulling,
        "waiting": waiting,
    }
    if by_image:
        status["imageStatuses"] = by_image
    return status


def still_pulling(node_image: JsonObject, status: JsonObject) -> bool:
    """``isImageInPulling``: a tag without a finished status, or a status of another version."""
    if status.get("succeeded", 0) + status.get("failed", 0) < status.get("desired", 0):
        return True
    versions = {
        (image, str(t.get("tag"))): _int(t.get("version"), 0)
        for image, spec in ((node_image.get("spec") or {}).get("images") or {}).items()
        for t in spec.get("tags") or ()
    }
    for image, image_status in (status.get("imageStatuses") or {}).items():
        for tag in image_status.get("tags") or ():
            key = (image, str(tag.get("tag")))
            if key in versions and versions[key] != _int(tag.get("version"), 0):
                return True
    return False
