"""The webhook process: HTTPS admission endpoints, certificate upkeep, metrics and health.

``/mutate`` and ``/validate`` (HTTPS, ``--port``) answer AdmissionReview v1 through
:func:`webhook.dispatch.admit`, each in an OpenTelemetry span carrying the object's key and the
verdict, counted in :data:`flotilla.runtime.metrics.ADMISSIONS`. A malformed review gets a 400 with
the reason (or, when its uid can be read, a refusal the API server shows); a handler that fails
unexpectedly gets a 500 refusal and a log line with the traceback, and the server keeps serving.
``/convert`` answers ConversionReview v1 (:mod:`webhook.conversion`) in a span of its own, counted
under the same metrics with operation ``CONVERT``; a malformed review gets a 400, a conversion
kruise refuses a ``Failure`` result the API server shows the reader.
``/metrics``, ``/healthz``, ``/readyz`` are on the plain HTTP port of every Flotilla process.

Certificates: with ``secret`` upkeep (default) every replica runs :func:`webhook.certstore.ensure_certificate`
and :func:`webhook.certstore.ensure_ca_bundle` at start and every ``resync`` seconds and swaps
the serving certificate in place when the Secret's changes (new TLS handshakes use it at once);
with ``crd_conversion`` it also points the CRDs kruise converts by webhook at ``/convert`` with
the same CA (:func:`webhook.conversion.ensure_crd_conversion`);
with ``external`` certificates (cert-manager) it reloads ``tls.crt``/``tls.key`` from the
mounted directory when they change and touches neither Secret nor configurations.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web
from cryptography import x509
from opentelemetry import trace

from flotilla.runtime import metrics
from flotilla.runtime.errors import KubeError
from flotilla.runtime.health import Health
from flotilla.runtime.httpserver import bound_port, start_http_server
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.logs import setup_logging
from flotilla.runtime.tracing import setup_tracing, shutdown_tracing
from webhook.certs import CertBundle
from webhook.certstore import (
    MUTATING_CONFIGS,
    VALIDATING_CONFIGS,
    CertPolicy,
    ensure_ca_bundle,
    ensure_certificate,
)
from webhook.cluster import KRUISE_CONFIGURATION, KubeCluster
from webhook.conversion import (
    CONVERT_PATH,
    MalformedConversion,
    answer_review,
    conversion_client_config,
    ensure_crd_conversion,
)
from webhook.dispatch import AdmissionConfig, Cluster, Route, RouteKey, admit, route_table
from webhook.review import ReviewError, Verdict, denied, parse_review, review_response, review_uid
from webhook.sidecarsetcache import SidecarSetCache, configmap_cache

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("webhook.server")

#: The API server waits at most 5 s (the chart's timeoutSeconds); answer well before that.
ADMISSION_DEADLINE_SECONDS = 4.0


@dataclass(frozen=True)
class Options:
    kubeconfig: Path | None
    port: int
    bind_address: str
    http_port: int | None
    namespace: str
    secret_name: str
    #: The Mutating/ValidatingWebhookConfiguration whose caBundle (and url) this replica keeps.
    configuration_name: str
    #: "secret": generate and keep the certificate in ``secret_name``; "external": read ``cert_dir``.
    cert_source: str
    cert_dir: Path | None
    #: Register by URL ``https://<url_host>:<port>`` (outside a cluster) instead of the Service.
    url_host: str | None
    policy: CertPolicy
    resync_seconds: float
    config: AdmissionConfig
    #: Register ``/convert`` as the conversion webhook of the CRDs kruise converts by webhook.
    crd_conversion: bool = False
    #: The Service named in clientConfigs (a CRD's conversion webhook names it itself).
    service_name: str = "flotilla-webhook"
    #: (namespace, name) of kruise's configuration ConfigMap (the SidecarSet patchPodMetadata whitelist).
    kruise_configuration: tuple[str, str] = KRUISE_CONFIGURATION
    #: Where SidecarSet ControllerRevisions live (the SidecarSet worker's namespace).
    revision_namespace: str = "default"


class AdmissionApp:
    """The HTTPS application: one handler for both paths, dispatching by the route table."""

    def __init__(
        self, routes: Mapping[str, Mapping[RouteKey, Route]], config: AdmissionConfig, cluster: Cluster
    ):
        self.routes = routes
        self.config = config
        self.cluster = cluster

    def build(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        for path in self.routes:
            app.router.add_post(path, self.handle)
        app.router.add_post(CONVERT_PATH, self.handle_conversion)
        return app

    async def handle_conversion(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        try:
            with _tracer.start_as_current_span("conversion", kind=trace.SpanKind.SERVER) as span:
                span.set_attribute("flotilla.admission.path", CONVERT_PATH)
                return _convert(body, span)
        finally:
            metrics.ADMISSION_DURATION.labels(CONVERT_PATH).observe(time.perf_counter() - started)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        started = time.perf_counter()
        body = await request.read()
        try:
            with _tracer.start_as_current_span("admission", kind=trace.SpanKind.SERVER) as span:
                span.set_attribute("flotilla.admission.path", path)
                return await self._answer(path, body, span)
        finally:
            metrics.ADMISSION_DURATION.labels(path).observe(time.perf_counter() - started)

    async def _answer(self, path: str, body: bytes, span: trace.Span) -> web.Response:
        try:
            review = parse_review(body)
        except ReviewError as err:
            metrics.ADMISSIONS.labels(path, "", "", "malformed").inc()
            span.set_attribute("flotilla.admission.verdict", "malformed")
            span.set_status(trace.StatusCode.ERROR, str(err))
            log.warning("malformed AdmissionReview on %s: %s", path, err)
            uid = review_uid(body)
            if uid:
                return _json(review_response(uid, denied(400, f"malformed AdmissionReview: {err}")))
            return web.Response(status=400, text=f"malformed AdmissionReview: {err}\n")
        span.set_attribute("flotilla.admission.key", review.key)
        span.set_attribute("flotilla.admission.kind", review.kind)
        span.set_attribute("flotilla.admission.operation", review.operation)
        span.set_attribute("flotilla.admission.uid", review.uid)
        try:
            async with asyncio.timeout(ADMISSION_DEADLINE_SECONDS):
                verdict = await admit(self.routes[path], path, review, self.config, self.cluster)
        except TimeoutError:
            verdict = denied(500, f"flotilla webhook: no decision within {ADMISSION_DEADLINE_SECONDS:g}s")
        except Exception as err:  # a handler bug must cost one answer, never the server
            log.exception("handler failed for %s %s", review.operation, review.key)
            verdict = denied(500, f"flotilla webhook failed: {type(err).__name__}: {err}")
        span.set_attribute("flotilla.admission.verdict", verdict.outcome)
        metrics.ADMISSIONS.labels(path, review.kind, review.operation, verdict.outcome).inc()
        _log_verdict(review.operation, review.key, review.username, verdict)
        return _json(review_response(review.uid, verdict))


def _convert(body: bytes, span: trace.Span) -> web.Response:
    try:
        outcome = answer_review(body)
    except MalformedConversion as err:
        metrics.ADMISSIONS.labels(CONVERT_PATH, "", "CONVERT", "malformed").inc()
        span.set_attribute("flotilla.admission.verdict", "malformed")
        span.set_status(trace.StatusCode.ERROR, str(err))
        log.warning("malformed ConversionReview: %s", err)
        return web.Response(status=400, text=f"malformed ConversionReview: {err}\n")
    verdict = "failed" if outcome.failure else "converted"
    span.set_attribute("flotilla.admission.kind", outcome.kind)
    span.set_attribute("flotilla.conversion.desired_api_version", outcome.desired)
    span.set_attribute("flotilla.conversion.objects", outcome.count)
    span.set_attribute("flotilla.admission.verdict", verdict)
    metrics.ADMISSIONS.labels(CONVERT_PATH, outcome.kind, "CONVERT", verdict).inc()
    if outcome.failure:
        fields = {"kind": outcome.kind, "desired": outcome.desired, "message": outcome.failure}
        log.info("conversion failed: %s", outcome.failure, extra={"fields": fields})
    else:
        log.debug("converted %d %s to %s", outcome.count, outcome.kind, outcome.desired)
    return web.Response(body=orjson.dumps(outcome.response), content_type="application/json")


def _json(review: dict[str, object]) -> web.Response:
    return web.Response(body=orjson.dumps(review), content_type="application/json")


def _log_verdict(operation: str, key: str, username: str, verdict: Verdict) -> None:
    fields = {"operation": operation, "object": key, "username": username, "verdict": verdict.outcome}
    if verdict.allowed:
        log.debug("admitted %s %s", operation, key, extra={"fields": fields})
    else:
        fields["message"] = verdict.message
        log.info("refused %s %s: %s", operation, key, verdict.message, extra={"fields": fields})


class ServingCertificate:
    """The certificate the HTTPS listener presents, swapped in place on renewal."""

    def __init__(self, cert_dir: Path) -> None:
        self.cert_dir = cert_dir
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.current = b""

    def load(self, cert: bytes, key: bytes) -> bool:
        """Present ``cert`` from now on; False when it is the one already presented."""
        if cert == self.current:
            return False
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = self.cert_dir / "serving.crt", self.cert_dir / "serving.key"
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        cert_file.write_bytes(cert)
        self.context.load_cert_chain(cert_file, key_file)
        self.current = cert
        expiry = x509.load_pem_x509_certificate(cert).not_valid_after_utc
        metrics.WEBHOOK_CERT_EXPIRY.set(expiry.timestamp())
        log.info("serving a certificate valid until %s", expiry.isoformat())
        return True


def certificate_names(service_name: str, namespace: str, url_host: str | None) -> tuple[str, ...]:
    """The names the serving certificate covers: the Service's, and the URL host when registered by URL."""
    service = f"{service_name}.{namespace}"
    names = (f"{service}.svc", f"{service}.svc.cluster.local", service)
    return (url_host, *names) if url_host else names


async def refresh_certificate(
    kube: KubeClient, options: Options, serving: ServingCertificate, served_paths: tuple[str, ...]
) -> None:
    """One round of certificate upkeep (raises KubeError/OSError; the caller retries)."""
    url_base = f"https://{_url_host(options.url_host)}:{options.port}" if options.url_host else None
    if options.cert_source == "external":
        assert options.cert_dir is not None
        serving.load((options.cert_dir / "tls.crt").read_bytes(), (options.cert_dir / "tls.key").read_bytes())
        ca_file = options.cert_dir / "ca.crt"  # cert-manager's Secret carries the issuing CA
        if options.crd_conversion and ca_file.exists():
            await _ensure_conversion(kube, options, ca_file.read_bytes(), url_base)
        return
    now = dt.datetime.now(dt.UTC)
    bundle: CertBundle = await ensure_certificate(
        kube, options.namespace, options.secret_name, options.policy, now
    )
    serving.load(bundle.cert, bundle.key)
    configurations = [
        (MUTATING_CONFIGS, options.configuration_name),
        (VALIDATING_CONFIGS, options.configuration_name),
    ]
    missing = await ensure_ca_bundle(kube, configurations, bundle.ca_cert, served_paths, url_base)
    if missing:
        log.warning("webhook configurations not found (caBundle not set): %s", ", ".join(missing))
    if options.crd_conversion:
        await _ensure_conversion(kube, options, bundle.ca_cert, url_base)


async def _ensure_conversion(kube: KubeClient, options: Options, ca: bytes, url_base: str | None) -> None:
    client_config = conversion_client_config(ca, url_base, options.namespace, options.service_name)
    missing = await ensure_crd_conversion(kube, client_config)
    if missing:
        log.warning("CRDs not found (conversion webhook not set): %s", ", ".join(missing))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve(options: Options, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    health = Health("certificate", "sidecarsets")
    http_runner = await start_http_server(health, options.http_port)
    log.info("serving /metrics, /healthz, /readyz on port %d", bound_port(http_runner))
    kube = KubeClient.from_environment(options.kubeconfig, timeout=10.0, user_agent="flotilla-webhook")
    routes = route_table()
    served = (*routes, CONVERT_PATH)
    serving = ServingCertificate(options.cert_dir or Path(tempfile.mkdtemp(prefix="flotilla-webhook-")))
    sidecarsets = SidecarSetCache(
        kube,
        on_synced=lambda: health.set_ready("sidecarsets"),
        on_unsynced=lambda reason: health.set_not_ready("sidecarsets", reason),
    )
    configuration = configmap_cache(kube, *options.kruise_configuration)
    cache_tasks = (
        asyncio.create_task(sidecarsets.run(stop), name="sidecarset-cache"),
        asyncio.create_task(configuration.run(stop), name="kruise-configuration-cache"),
    )
    cluster = KubeCluster(
        kube,
        sidecarsets,
        revision_namespace=options.revision_namespace,
        configuration=options.kruise_configuration,
        configuration_cache=configuration,
    )
    app = AdmissionApp(routes, options.config, cluster)
    runner = web.AppRunner(app.build(), access_log=None)
    await runner.setup()
    site: web.TCPSite | None = None
    try:
        while not stop.is_set():
            try:
                await refresh_certificate(kube, options, serving, served)
                if site is None:
                    site = web.TCPSite(
                        runner, options.bind_address, options.port, ssl_context=serving.context
                    )
                    await site.start()
                    log.info(
                        "serving admission on https://%s:%d %s",
                        options.bind_address,
                        options.port,
                        list(served),
                    )
                    if ready is not None:
                        ready.set()
                health.set_ready("certificate")
            except (KubeError, OSError, ValueError) as err:
                log.warning("certificate upkeep failed (retrying in %gs): %s", options.resync_seconds, err)
                if site is None:
                    health.set_not_ready("certificate", str(err))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=options.resync_seconds if site else 2.0)
    finally:
        health.alive = False
        for task in cache_tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        await http_runner.cleanup()
        await kube.close()


def main(options: Options) -> int:
    setup_logging()
    setup_tracing("flotilla-webhook")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(options, stop)

    try:
        asyncio.run(run())
    finally:
        shutdown_tracing()
    return 0
