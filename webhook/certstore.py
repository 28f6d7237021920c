"""The webhook's certificate in a Secret and its CA in the webhook configurations (the shell
around :mod:`webhook.certs`), as kruise-manager's webhook controller does.

:func:`ensure_certificate` (kruise ``writer.handleCommon``): read the Secret; when absent,
create it (create-if-absent: of several replicas starting at once one create wins, the others
get AlreadyExists and read the winner's); when its certificate does not serve the webhook's names
until ``now + renew_before``, replace it guarded by the resourceVersion read (a replica that loses
that race reads the winner's). :func:`ensure_ca_bundle` (kruise ``configuration.Ensure``): set
``caBundle`` on every webhook of the named configurations whose path this server serves, and,
when the server runs outside the cluster (``flotilla dev up``, tests), turn a ``service``
clientConfig into a ``url`` on that host. Called periodically by :mod:`webhook.server`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from flotilla.runtime.errors import AlreadyExists, Conflict, NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from webhook.certs import (
    DEFAULT_CA_VALIDITY,
    DEFAULT_CERT_VALIDITY,
    DEFAULT_RENEW_BEFORE,
    CertBundle,
    new_bundle,
    serves,
)

log = logging.getLogger(__name__)

SECRETS = Resource("", "v1", "secrets", "Secret")
MUTATING_CONFIGS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    False,
)
VALIDATING_CONFIGS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
    False,
)

#: kruise's Secret keys (``writer/certwriter.go``): the CA pair, and the serving pair twice.
CA_KEY, CA_CERT = "ca-key.pem", "ca-cert.pem"
SERVER_KEYS = ("key.pem", "tls.key")
SERVER_CERTS = ("cert.pem", "tls.crt")


@dataclass(frozen=True)
class CertPolicy:
    """The names the serving certificate must cover and how long certificates live."""

    names: tuple[str, ...]
    validity: dt.timedelta = DEFAULT_CERT_VALIDITY
    ca_validity: dt.timedelta = DEFAULT_CA_VALIDITY
    renew_before: dt.timedelta = DEFAULT_RENEW_BEFORE


def bundle_from_secret(secret: JsonObject) -> CertBundle:
    data = secret.get("data") or {}

    def field(name: str) -> bytes:
        value = data.get(name)
        return base64.b64decode(value) if isinstance(value, str) else b""

    return CertBundle(field(CA_CERT), field(CA_KEY), field(SERVER_CERTS[1]), field(SERVER_KEYS[1]))


def secret_data(bundle: CertBundle) -> dict[str, str]:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    data = {CA_KEY: b64(bundle.ca_key), CA_CERT: b64(bundle.ca_cert)}
    data.update(dict.fromkeys(SERVER_KEYS, b64(bundle.key)))
    data.update(dict.fromkeys(SERVER_CERTS, b64(bundle.cert)))
    return data


async def ensure_certificate(
    kube: KubeClient, namespace: str, name: str, policy: CertPolicy, now: dt.datetime
) -> CertBundle:
    """The Secret's certificate, created or renewed first when needed (see the module docstring)."""
    path = SECRETS.path(namespace, name)
    try:
        secret: JsonObject | None = await kube.get(path)
    except NotFound:
        secret = None
    if secret is None:
        fresh = new_bundle(policy.names, now, policy.validity, policy.ca_validity)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/name": "flotilla"},
            },
            "data": secret_data(fresh),
        }
        try:
            await kube.create(SECRETS.collection_path(namespace), body)
            log.info("created the webhook certificate Secret %s/%s", namespace, name)
            return fresh
        except AlreadyExists:
            secret = await kube.get(path)  # another replica created it first: use theirs
    current = bundle_from_secret(secret)
    if serves(current, policy.names, now, now + policy.renew_before):
        return current
    fresh = new_bundle(
        policy.names,
        now,
        policy.validity,
        policy.ca_validity,
        reuse=current,
        renew_before=policy.renew_before,
    )
    replacement = copy.deepcopy(secret)
    replacement["data"] = secret_data(fresh)
    try:
        await kube.replace(path, replacement)  # carries the resourceVersion read: a lost race is a Conflict
    except Conflict:
        log.info("another replica renewed the webhook certificate first; using theirs")
        return bundle_from_secret(await kube.get(path))
    log.info(
        "renewed the webhook certificate in Secret %s/%s (CA %s)",
        namespace,
        name,
        "kept" if fresh.ca_cert == current.ca_cert else "new",
    )
    return fresh


def _webhook_path(client_config: dict[str, Any]) -> str:
    service = client_config.get("service")
    if isinstance(service, dict):
        return str(service.get("path") or "/")
    url = client_config.get("url")
    return urlparse(url).path if isinstance(url, str) else ""


def patched_configuration(
    configuration: JsonObject, ca_bundle: bytes, served_paths: Collection[str], url_base: str | None
) -> JsonObject:
    """``configuration`` with ``caBundle`` (and a loopback ``url`` when ``url_base``) on each webhook
    this server serves; webhooks of other paths are left as they are. Pure."""
    result = copy.deepcopy(configuration)
    encoded = base64.b64encode(ca_bundle).decode()
    for webhook in result.get("webhooks") or []:
        client_config = webhook.get("clientConfig")
        if not isinstance(client_config, dict):
            continue
        path = _webhook_path(client_config)
        if path not in served_paths:
            log.info("leaving webhook %s alone: this server does not serve %s", webhook.get("name"), path)
            continue
        if url_base is not None:
            client_config.pop("service", None)
            client_config["url"] = url_base.rstrip("/") + path
        client_config["caBundle"] = encoded
    return result


async def ensure_ca_bundle(
    kube: KubeClient,
    names: Sequence[tuple[Resource, str]],
    ca_bundle: bytes,
    served_paths: Collection[str],
    url_base: str | None = None,
) -> list[str]:
    """Patch every named configuration that needs it; the names not found (retried next round)."""
    missing: list[str] = []
    for resource, name in names:
        try:
            configuration = await kube.get(resource.path(name=name))
        except NotFound:
            missing.append(f"{resource.kind} {name}")
            continue
        wanted = patched_configuration(configuration, ca_bundle, served_paths, url_base)
        if wanted != configuration:
            try:
                await kube.replace(resource.path(name=name), wanted)
            except Conflict:
                log.info("%s %s changed while patching caBundle; next round", resource.kind, name)
                continue
            log.info("set caBundle of %s %s", resource.kind, name)
    return missing
