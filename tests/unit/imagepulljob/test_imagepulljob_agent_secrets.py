"""The node agent's pull-secret lookup (nodeagent/imagepull/agent.py ``_secrets``): the copies the
NodeImage names are read; one that cannot be read (gone, or outside the agent's namespace: 403)
is skipped with a warning, as kruise-daemon's ``GetSecrets`` logs and skips any error."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from flotilla.runtime.errors import KubeError, NotFound
from flotilla.runtime.kube import KubeClient
from nodeagent.cri.runtime import CriImages
from nodeagent.imagepull.agent import ImagePullAgent
from nodeagent.imagepull.puller import PullTask

COPY = {"metadata": {"namespace": "kruise-daemon-config", "name": "pull-secret-0a1b2c"}}


class _Kube:
    async def get(self, path: str, params: object = None) -> dict[str, Any]:
        if path.endswith("/namespaces/kruise-daemon-config/secrets/pull-secret-0a1b2c"):
            return COPY
        if "/namespaces/team/" in path:
            raise KubeError("secrets is forbidden", status=403, reason="Forbidden", method="GET")
        raise NotFound("not found", status=404, method="GET")


def test_readable_copies_are_used_and_the_rest_skipped() -> None:
    agent = ImagePullAgent(cast(KubeClient, _Kube()), cast(CriImages, object()), "n1")
    pull = PullTask(
        image="reg.io/app",
        tag="v1",
        version=0,
        pull_secrets=(("team", "old"), ("kruise-daemon-config", "pull-secret-0a1b2c"), ("x", "gone")),
    )
    assert asyncio.run(agent._secrets(pull)) == [COPY]
