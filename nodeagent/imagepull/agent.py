"""The node agent's image puller: the shell around :mod:`nodeagent.imagepull.puller`.

A task stays listed as running until the NodeImage's stored status shows its tag finished at its
version, so a status write that failed (a conflict) never starts the same pull again.

Watches its node's NodeImage (``metadata.name=<node>``, as kruise-daemon's informer), runs one
asyncio task per wanted ``image:tag`` (CRI ``PullImage`` with the pull secrets' credentials,
``timeoutSeconds`` per try, ``backoffLimit`` retries, ``activeDeadlineSeconds``), and writes the
NodeImage status (PUT of the status subresource with the cached resourceVersion; a conflict is
retried when the watch delivers the newer object). One sync runs at a time: on a change of the
NodeImage, and every 3 s while a tag is pulling; a task's progress or end is written by the next
of those, not at once, as kruise-daemon's ``sync`` (its workers only update the status it reads;
``AddAfter(3s + <2s)`` while pulling). Users see the same window: an image already on the node
reads ``Succeeded`` ~3 s after the spec asked for it, not at once, which kruise's e2e specs
expect (an ImagePullJob's pull-secret copies live until its tags finish). Events as
kruise-daemon: ``PullImageSucceed`` on the NodeImage, ``PullImageFailed`` on the NodeImage and on
each owner (the ImagePullJobs) of the tag.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

from flotilla.runtime.errors import Conflict, KubeError, NotFound
from flotilla.runtime.kube import KubeClient, Resource
from nodeagent.cri.runtime import CriError, CriImages, RuntimeImage
from nodeagent.imagepull import puller
from nodeagent.imagepull.puller import PullTask, TagKey
from nodeagent.imagepull.secrets import registry_auths
from nodeagent.reflector import Reflector
from schemas.kruise.rules.imageref import ImageRefError, name_and_tag
from workers.runtime.events import ObjectRef, emit_event

log = logging.getLogger("flotilla.nodeagent.imagepull")

NODEIMAGES = Resource("apps.kruise.io", "v1beta1", "nodeimages", "NodeImage", namespaced=False)
SECRETS = Resource("", "v1", "secrets", "Secret")
COMPONENT = "flotilla-node-agent-imagepuller"

JsonObject = dict[str, Any]


def _rfc3339(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def contains_image(images: list[RuntimeImage], name: str, tag: str) -> RuntimeImage | None:
    """kruise's ``ImageInfo.ContainsImage``: a repoTag naming ``name:tag`` once normalized."""
    for image in images:
        for repo_tag in image.repo_tags:
            try:
                if name_and_tag(repo_tag) == (name, tag):
                    return image
            except ImageRefError:
                continue
    return None


class ImagePullAgent:
    """Pulls the images of one node's NodeImage through the CRI and reports them in its status."""

    def __init__(self, kube: KubeClient, images: CriImages, node: str) -> None:
        self._kube = kube
        self._images = images
        self.node = node
        self.node_images = Reflector(
            kube, NODEIMAGES, {"fieldSelector": f"metadata.name={node}"}, self._changed
        )
        self._wake = asyncio.Event()
        self._tasks: dict[TagKey, tuple[int, asyncio.Task[None]]] = {}
        self.tags: dict[TagKey, JsonObject] = {}
        self._written: JsonObject | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._seen: tuple[Any, Any] | None = None

    def _changed(self, _key: str, obj: JsonObject | None) -> None:
        """A sync when the NodeImage's spec changed, appeared or went (kruise-daemon's UpdateFunc
        skips a change of the status only: the agent's own writes come back here too)."""
        metadata = (obj or {}).get("metadata") or {}
        seen = None if obj is None else (obj.get("spec"), metadata.get("deletionTimestamp"))
        if seen != self._seen or obj is None:
            self._seen = seen
            self._wake.set()

    def _later(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._wake.set)

    async def run(self) -> None:
        reflector = asyncio.create_task(self.node_images.run())
        try:
            await self.node_images.synced.wait()
            log.info("node agent: watching NodeImage %s", self.node)
            failures = 0
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    self._later(await self.sync())
                    failures = 0
                except (KubeError, CriError) as exc:
                    failures += 1
                    delay = min(0.5 * 2 ** (failures - 1), 50.0)
                    log.warning("sync of NodeImage %s failed (%s); retrying in %.1fs", self.node, exc, delay)
                    self._later(delay)
        finally:
            reflector.cancel()
            for _, task in self._tasks.values():
                task.cancel()

    def _node_image(self) -> JsonObject | None:
        obj = self.node_images.objects.get(f"/{self.node}")
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        return obj

    async def sync(self) -> float:
        """One pass: start/stop tasks, write the status if it changed; seconds until the next look."""
        obj = self._node_image()
        if obj is None:
            return puller.IDLE_RECHECK_SECONDS
        plan = puller.sync_tags(obj, {key: version for key, (version, _) in self._tasks.items()})
        for key in plan.stop:
            _, task = self._tasks.pop(key)
            if key in plan.kept:
                continue  # its result is stored; it may still be sending its Events
            if not task.done():
                task.cancel()
                log.info("stopped pulling %s:%s (no longer wanted at that version)", *key)
        for key in [k for k in self.tags if k not in plan.wanted]:
            del self.tags[key]
        self.tags.update(plan.kept)
        for pull in plan.start:
            self.tags[pull.key] = {"tag": pull.tag, "phase": "Waiting", "version": pull.version}
            task = asyncio.create_task(self._pull(obj, pull))
            self._tasks[pull.key] = (pull.version, task)
        status = puller.node_status(obj, self.tags)
        if status != (obj.get("status") or {}) and status != self._written:
            body = {**obj, "status": status}
            try:
                stored = await self._kube.replace(NODEIMAGES.path("", self.node, "status"), body)
            except Conflict:
                return 1.0  # the watch brings the newer object; write again then
            except NotFound:
                return puller.IDLE_RECHECK_SECONDS
            self.node_images.store(stored)
            self._written = status
        still = puller.still_pulling(obj, status)
        return puller.PULLING_RECHECK_SECONDS if still else puller.IDLE_RECHECK_SECONDS

    # -- one tag ------------------------------------------------------------------------
    def _report(self, pull: PullTask, status: JsonObject) -> None:
        """Keep a task's status for the next sync (no wake: see the module's docstring)."""
        version, _ = self._tasks.get(pull.key, (None, None))
        if version == pull.version:
            self.tags[pull.key] = dict(status)

    async def _secrets(self, pull: PullTask) -> list[JsonObject]:
        found = []
        for namespace, name in pull.pull_secrets:
            try:
                found.append(await self._kube.get(SECRETS.path(namespace, name)))
            except NotFound:
                log.warning("pull secret %s/%s of %s not found", namespace, name, pull.ref)
            except KubeError as err:  # kruise-daemon's GetSecrets: logged, skipped, never fails the pull
                log.warning("pull secret %s/%s of %s not read: %s", namespace, name, pull.ref, err)
        return found

    async def _pull(self, obj: JsonObject, pull: PullTask) -> None:
        """``pullWorker.Run``: tries until success, ``backoffLimit`` retries, or the deadline."""
        started = time.monotonic()
        status: JsonObject = {
            "tag": pull.tag,
            "phase": "Pulling",
            "startTime": _rfc3339(),
            "version": pull.version,
        }
        self._report(pull, status)
        message = ""
        for failures in range(pull.backoff_limit + 1):
            attempt = puller.attempt(pull, time.monotonic() - started)
            if attempt.timeout is None:
                message = attempt.message
                break
            try:
                auths = registry_auths(await self._secrets(pull), pull.image) if pull.pull_secrets else []
                image_id = await self._pull_once(pull, attempt.timeout, auths, status)
            except (_PullFailed, CriError, KubeError) as failed:
                message = str(failed)
                log.warning("pulling %s failed (try %d): %s", pull.ref, failures + 1, message)
                await asyncio.sleep(puller.backoff(failures + 1))
                continue
            if image_id:
                status["imageID"] = f"{pull.image}@{image_id}"
            status.update(phase="Succeeded", completionTime=_rfc3339(), progress=100)
            status.pop("message", None)
            self._report(pull, status)
            elapsed = time.monotonic() - started
            log.info("pulled %s in %.1fs", pull.ref, elapsed)
            await self._event(
                obj, "Normal", "PullImageSucceed", f"Image {pull.ref}, ecalpsedTime {elapsed:.6f}s"
            )
            return
        status.update(phase="Failed", completionTime=_rfc3339(), message=message)
        self._report(pull, status)
        log.error("failed to pull %s: %s", pull.ref, message)
        text = f"Image {pull.ref} {message}"
        for owner in pull.owners:
            ref = ObjectRef(
                str(owner.get("apiVersion", "")),
                str(owner.get("kind", "")),
                str(owner.get("namespace", "")),
                str(owner.get("name", "")),
                str(owner.get("uid", "")),
            )
            with contextlib.suppress(KubeError):
                await emit_event(self._kube, ref, "PullImageFailed", text, "Warning", component=COMPONENT)
        await self._event(obj, "Warning", "PullImageFailed", text)

    async def _pull_once(
        self, pull: PullTask, seconds: float, auths: list[tuple[str, str]], status: JsonObject
    ) -> str:
        """One try (``doPullImage``); the image's ID, or raises :class:`_PullFailed` with kruise's text."""
        if not pull.always:
            present = contains_image(await self._images.list_images(), pull.image, pull.tag)
            if present is not None:
                log.info("image %s is already on the node", pull.ref)
                status["progress"] = 100
                return present.id
        errors: list[str] = []
        tries: list[tuple[str, str] | None] = [*auths] if auths else [None]
        for credentials in tries:
            try:
                await self._images.pull_image(
                    pull.ref, seconds, credentials, pull.sandbox_labels, pull.sandbox_annotations
                )
            except CriError as exc:
                if exc.code == "DEADLINE_EXCEEDED":
                    raise _PullFailed(puller.canceled(pull)) from exc
                errors.append(puller.pull_error(pull.ref, exc.code, exc.details, credentials is not None))
                continue
            found = contains_image(await self._images.list_images(), pull.image, pull.tag)
            return found.id if found is not None else ""
        raise _PullFailed(errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")

    async def _event(self, obj: JsonObject, kind: str, reason: str, message: str) -> None:
        involved = ObjectRef.of({"apiVersion": "apps.kruise.io/v1beta1", "kind": "NodeImage", **obj})
        with contextlib.suppress(KubeError):
            await emit_event(self._kube, involved, reason, message, kind, component=COMPONENT)


class _PullFailed(Exception):
    """One try of a pull failed; the message is what kruise writes."""
