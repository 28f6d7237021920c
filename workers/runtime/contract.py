"""The contract between a worker type and the runtime: observe -> plan -> act, and its results.

A worker type module exposes ``WORKER = WorkerType(...)``:

* ``observe(read, key) -> snapshot`` reads everything the planner needs through the runtime's
  one read port (:class:`~workers.runtime.observe.StateReader`) into an immutable snapshot;
* ``plan(snapshot, config, now) -> Plan`` is pure (no I/O, no clock, no logging);
* ``act(api, snapshot, plan)`` performs the plan; the default sends ``plan.actions``.

Outcomes are fixed and handled once in :mod:`workers.runtime.consumer`: a clean plan acks;
``requeue_after`` naks with that delay; an error that says the plan was made from stale state
(:func:`is_stale_observation`: a 409, or a 404 on a write to an object the plan saw) re-plans
from fresh state; any other exception naks with backoff and, after ``max_failures``
consecutive failures, dead-letters (condition + Event); :class:`TerminalError` dead-letters
at once. A worker type with ``outdated_by`` may have a plan dropped before it is acted on, when
a trigger that came in meanwhile shows what its snapshot does not (see the field).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from flotilla.runtime.errors import Conflict, NotFound
from flotilla.runtime.features import FeatureGates
from flotilla.runtime.kube import KubeClient, Resource
from schemas.bus.envelope import Envelope, KeyParts
from schemas.bus.subjects import check_worker_type
from workers.runtime.actions import Action, execute_plan
from workers.runtime.observe import StateReader

Snapshot = TypeVar("Snapshot")
Config = TypeVar("Config")


@dataclass(frozen=True)
class Plan:
    """What one reconcile decided: actions to send, when to look again, and why (logged)."""

    actions: tuple[Action, ...] = ()
    requeue_after: float | None = None
    reason: str = ""


#: The writes that address an object by name: one answered 404 means the object the plan was
#: made from is gone (deleted after it was observed, e.g. a pod by the garbage collector).
_WRITES_TO_A_NAMED_OBJECT = frozenset({"PATCH", "PUT", "DELETE"})


def is_stale_observation(err: BaseException) -> bool:
    """Whether ``err`` says the plan was made from state that changed before its writes landed.

    A 409 (:class:`~flotilla.runtime.errors.Conflict`, ``AlreadyExists``), or a 404 on a write
    that names an existing object (PATCH, PUT, DELETE): a fresh observation no longer holds that
    object, so a new plan will not write to it. The runtime re-plans these (bounded by
    ``max_conflict_replans``) instead of counting a failure. Not a 404 on a create (POST): that
    object was expected absent, and the 404 names its namespace (or parent), which a new
    observation would not bring back; it is an ordinary failure.
    """
    if isinstance(err, Conflict):
        return True
    return isinstance(err, NotFound) and err.method in _WRITES_TO_A_NAMED_OBJECT


class TerminalError(Exception):
    """Raised by observe/plan/act when retrying cannot help; the key is dead-lettered at once.

    The message is what the user reads in the condition and the Event: say what to change.
    """


@dataclass(frozen=True)
class WorkerType(Generic[Snapshot, Config]):
    """A worker type as the runtime sees it.

    ``name`` is the worker type (subject token, consumer ``worker-<name>``); ``resource`` and
    ``kind`` name the reconciled kind. ``has_status`` says whether the kind has a status
    subresource: dead-lettering then sets a ``FlotillaReconcileFailed`` condition there, else it
    writes the ``flotilla.dev/reconcile-error`` annotation.
    """

    name: str
    kind: str
    resource: Resource
    observe: Callable[[StateReader, KeyParts], Awaitable[Snapshot]]
    plan: Callable[[Snapshot, Config, float], Plan]
    config: Config
    act: Callable[[KubeClient, Snapshot, Plan], Awaitable[None]] | None = None
    has_status: bool = True
    field_manager: str = field(default="")
    configure: Callable[[FeatureGates, Config], Config] | None = None
    """Builds the planner config from kruise's feature gates (``flotilla worker --feature-gates``),
    given ``config`` as the base; ``None``: the type has no gated behaviour."""
    outdated_by: Callable[[Snapshot, Plan, Envelope], bool] | None = None
    """Whether ``plan`` (made from ``snapshot``, nothing written yet) is not worth acting on now
    that a newer trigger for the key (``Envelope``) is held: it names a change the snapshot does
    not show and the plan's writes would be made again by the next pass. The runtime then drops
    the plan and reconciles the held trigger at once under the same lease, at most once in a row
    (so a key whose triggers keep coming still acts). ``None``: every plan is acted on, and the
    held trigger reconciled after it."""

    def __post_init__(self) -> None:
        check_worker_type(self.name)

    def with_feature_gates(self, gates: FeatureGates) -> WorkerType[Snapshot, Config]:
        """This type with its config rebuilt from ``gates`` (unchanged if it has no ``configure``)."""
        if self.configure is None:
            return self
        return replace(self, config=self.configure(gates, self.config))

    @property
    def manager(self) -> str:
        return self.field_manager or f"flotilla-{self.name}"

    async def run_act(self, api: KubeClient, snapshot: Snapshot, plan: Plan) -> None:
        if self.act is not None:
            await self.act(api, snapshot, plan)
        else:
            await execute_plan(api, plan.actions, self.manager)
