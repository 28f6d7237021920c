"""``flotilla webhook``: the admission server's command line (flags and env vars -> :mod:`webhook.server`).

Listed in ``flotilla.cli.SUBCOMMAND_MODULES``; :func:`register` adds the parser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from flotilla.runtime.features import FEATURE_GATES_ENV, FeatureGateError, feature_gates_from_flag

_DESCRIPTION = """\
Serve kruise's admission webhooks over HTTPS: deletion protection
(policy.kruise.io/delete-protection), the KruisePodReady readiness gate on pods of kruise
workloads. Stateless: run as many replicas as you like behind one Service.

By default the webhook makes its own CA and serving certificate, keeps them in a Secret
(created once by whichever replica comes first, renewed --renew-before expiry), and sets
caBundle in the Mutating/ValidatingWebhookConfiguration named like --service-name.
With --external-certs (cert-manager) it serves tls.crt/tls.key from --cert-dir instead.
With --crd-conversion it serves ConversionReview at /convert and sets itself (and its CA) as the
conversion webhook of the CRDs kruise converts by webhook (Advanced StatefulSet, SidecarSet).
Serves /metrics, /healthz, /readyz on FLOTILLA_HTTP_PORT (default 8080).
"""


def _duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``12h``, ``180d`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90s, 15m, 12h, 180d)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive: {text!r}")
    return dt.timedelta(seconds=seconds)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "webhook",
        help="serve kruise's admission webhooks (deletion protection, pod readiness gate)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = os.environ.get
    parser.add_argument(
        "--port", type=int, default=int(env("FLOTILLA_WEBHOOK_PORT", "9443")), help="HTTPS port (9443)"
    )
    parser.add_argument("--bind-address", default="0.0.0.0", help="address the HTTPS port listens on")
    parser.add_argument("--http-port", type=int, default=None, help="port of /metrics, /healthz, /readyz")
    parser.add_argument(
        "--kubeconfig", type=Path, default=None, help="kubeconfig (default $KUBECONFIG or in-cluster)"
    )
    parser.add_argument(
        "--namespace", default=env("POD_NAMESPACE", "default"), help="namespace of the Service and Secret"
    )
    parser.add_argument(
        "--service-name",
        default=env("FLOTILLA_WEBHOOK_SERVICE", "flotilla-webhook"),
        help="the webhook's Service, and the name of its Mutating/ValidatingWebhookConfiguration",
    )
    parser.add_argument(
        "--configuration-name",
        default=env("FLOTILLA_WEBHOOK_CONFIGURATION", ""),
        help="the Mutating/ValidatingWebhookConfiguration whose caBundle it sets (default --service-name)",
    )
    parser.add_argument(
        "--secret-name",
        default=env("FLOTILLA_WEBHOOK_SECRET", ""),
        help="Secret holding the CA and serving certificate (default <service-name>-certs)",
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=env("FLOTILLA_WEBHOOK_CERT_DIR") or None,
        help="where the serving certificate is written (or read, with --external-certs)",
    )
    parser.add_argument(
        "--external-certs",
        action="store_true",
        default=env("FLOTILLA_WEBHOOK_EXTERNAL_CERTS", "").lower() == "true",
        help="serve tls.crt/tls.key of --cert-dir (cert-manager); manage no Secret and no caBundle",
    )
    parser.add_argument(
        "--url-host",
        default=env("FLOTILLA_WEBHOOK_URL_HOST") or None,
        help="register the webhooks by URL https://<host>:<port> instead of the Service (outside a cluster)",
    )
    parser.add_argument(
        "--crd-conversion",
        action="store_true",
        default=env("FLOTILLA_WEBHOOK_CRD_CONVERSION", "").lower() == "true",
        help="register /convert as conversion webhook of the statefulsets/sidecarsets.apps.kruise.io CRDs",
    )
    parser.add_argument(
        "--cert-validity", type=_duration, default="3650d", help="serving certificate lifetime"
    )
    parser.add_argument("--ca-validity", type=_duration, default="3650d", help="CA lifetime")
    parser.add_argument(
        "--renew-before", type=_duration, default="180d", help="renew the certificate this long before expiry"
    )
    parser.add_argument("--resync-period", type=_duration, default="60s", help="certificate upkeep interval")
    parser.add_argument(
        "--revision-namespace",
        default=env("POD_NAMESPACE") or "default",
        help="where the SidecarSet worker keeps SidecarSet ControllerRevisions (the worker's rule: "
        "$POD_NAMESPACE, else default), read for a pinned injectionStrategy.revision",
    )
    parser.add_argument(
        "--kruise-configuration",
        default=env("FLOTILLA_KRUISE_CONFIGURATION", "kruise-system/kruise-configuration"),
        help="namespace/name of kruise's configuration ConfigMap, read for the SidecarSet "
        "patchPodMetadata whitelist (kruise's own: kruise-system/kruise-configuration)",
    )
    parser.add_argument(
        "--feature-gates",
        default=env(FEATURE_GATES_ENV, ""),
        help=f"kruise feature gates, A=true,B=false (env {FEATURE_GATES_ENV})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webhook.certstore import CertPolicy
    from webhook.dispatch import AdmissionConfig
    from webhook.server import Options, certificate_names, main

    try:
        gates = feature_gates_from_flag(args.feature_gates)
    except FeatureGateError as err:
        print(f"flotilla webhook: --feature-gates: {err}")
        return 2
    if args.external_certs and args.cert_dir is None:
        print("flotilla webhook: --external-certs needs --cert-dir (where tls.crt and tls.key are mounted)")
        return 2
    if args.renew_before >= args.cert_validity:
        print("flotilla webhook: --renew-before must be shorter than --cert-validity")
        return 2
    namespace, _, configmap = args.kruise_configuration.partition("/")
    if not namespace or not configmap or "/" in configmap:
        print("flotilla webhook: --kruise-configuration must be <namespace>/<name>")
        return 2
    names = certificate_names(args.service_name, args.namespace, args.url_host)
    policy = CertPolicy(names, args.cert_validity, args.ca_validity, args.renew_before)
    return main(
        Options(
            kubeconfig=args.kubeconfig,
            port=args.port,
            bind_address=args.bind_address,
            http_port=args.http_port,
            namespace=args.namespace,
            secret_name=args.secret_name or f"{args.service_name}-certs",
            configuration_name=args.configuration_name or args.service_name,
            cert_source="external" if args.external_certs else "secret",
            cert_dir=args.cert_dir,
            url_host=args.url_host,
            policy=policy,
            resync_seconds=args.resync_period.total_seconds(),
            config=AdmissionConfig(gates=gates),
            crd_conversion=args.crd_conversion,
            service_name=args.service_name,
            kruise_configuration=(namespace, configmap),
            revision_namespace=args.revision_namespace,
        )
    )
