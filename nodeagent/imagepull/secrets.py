"""Registry credentials from pull secrets, for one image (pure; kruise's ``ConvertToRegistryAuths``).

A pull secret is a ``kubernetes.io/dockerconfigjson`` (``.dockerconfigjson``: ``{"auths": {server:
{...}}}``) or a legacy ``kubernetes.io/dockercfg`` (``.dockercfg``: ``{server: {...}}``) Secret.
Each entry gives ``username`` + ``password``, or ``auth`` (base64 ``user:password``). An entry
counts for the image when its server, without scheme and path, is the image's registry
(``docker.io`` also answers to ``index.docker.io`` and ``registry-1.docker.io``), as the
kubelet's keyring matches them. The agent tries each in turn, then (none matched) pulls anonymously.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from schemas.kruise.rules.imageref import DEFAULT_DOMAIN

JsonObject = dict[str, Any]
_DOCKER_HUB = {DEFAULT_DOMAIN, "index.docker.io", "registry-1.docker.io"}


def registry_of(image: str) -> str:
    """The registry host of an image name (``docker.io`` when it names none)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DEFAULT_DOMAIN


def _host(server: str) -> str:
    for scheme in ("https://", "http://"):
        if server.startswith(scheme):
            server = server[len(scheme) :]
    return server.partition("/")[0]


def _entries(secret: JsonObject) -> dict[str, JsonObject]:
    data = secret.get("data") or {}
    for key, nested in ((".dockerconfigjson", True), (".dockercfg", False)):
        raw = data.get(key)
        if not raw:
            continue
        try:
            decoded = json.loads(base64.b64decode(raw))
        except (binascii.Error, ValueError):
            return {}
        if not isinstance(decoded, dict):
            return {}
        auths = decoded.get("auths") if nested else decoded
        return {str(k): v for k, v in (auths or {}).items() if isinstance(v, dict)}
    return {}


def _credentials(entry: JsonObject) -> tuple[str, str] | None:
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and (user or password):
        return user, password
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password
    return None


def registry_auths(secrets: Iterable[JsonObject], image: str) -> list[tuple[str, str]]:
    """Every ``(username, password)`` the secrets hold for ``image``'s registry, in order."""
    registry = registry_of(image)
    hub = registry in _DOCKER_HUB
    found: list[tuple[str, str]] = []
    for secret in secrets:
        for server, entry in _entries(secret).items():
            host = _host(server)
            if host == registry or (hub and host in _DOCKER_HUB):
                credentials = _credentials(entry)
                if credentials is not None and credentials not in found:
                    found.append(credentials)
    return found
