"""charts/flotilla renders what the issue asks for, without a cluster.

Proves, on `helm template` output of the real chart: `helm lint` passes with the defaults
and with every option on; the watcher is a 2-replica Deployment with leader election;
worker types are data (one Deployment/ServiceAccount/ClusterRole/PDB per enabled type,
a new type added from values alone, a type switched off leaves nothing behind, per-type
replicas and resources); HPA and KEDA ScaledObject replace the fixed replica count and are
exclusive; NATS is an existing server (URL, credentials Secret) or the bundled dependency;
the OTEL_* settings; the ServiceMonitor; every pod runs non-root with a read-only root
filesystem, no capabilities and seccomp RuntimeDefault; RBAC is least privilege (the
watcher only reads, no wildcard anywhere); the webhook is on by default, cannot stop the
cluster (pod mutation fails open, only labelled objects reach deletion protection, 5 s timeouts,
kube-system and the release namespace excluded) and registers only what the server routes.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.helm.chart_render import (
    CHART,
    KUBE_VERSION,
    Manifest,
    env_of,
    helm_run,
    named,
    names,
    of_kind,
    pod_specs,
    render,
    render_text,
)

ALL_OPTIONS: dict[str, object] = {
    "natsServer.enabled": True,
    "nats.credentialsSecret.name": "nats-creds",
    "tracing.enabled": True,
    "metrics.serviceMonitor.enabled": True,
    "workers.cloneset.keda.enabled": True,
    "webhook.enabled": True,
}

#: The worker types a default release runs (values.yaml), each a Deployment, ServiceAccount,
#: ClusterRole(Binding), PDB and metrics Service.
DEFAULT_WORKERS = (
    "advancedcronjob",
    "broadcastjob",
    "cloneset",
    "containerlaunchpriority",
    "podunavailablebudget",
    "sidecarset",
    "statefulset",
    "uniteddeployment",
)
#: Every default worker but CloneSet's and SidecarSet's off (a test that brings its own
#: ``workers.sidecarset`` values: ``--set`` would override them).
OTHERS_OFF: dict[str, object] = {
    "workers.broadcastjob.enabled": False,
    "workers.advancedcronjob.enabled": False,
    "workers.statefulset.enabled": False,
    "workers.podunavailablebudget.enabled": False,
    "workers.uniteddeployment.enabled": False,
    "workers.containerlaunchpriority.enabled": False,
}
#: The CloneSet worker alone: for what these tests prove on one type (the job workers' own
#: chart tests are tests/unit/helm/test_helm_jobs.py).
CLONESET_ONLY: dict[str, object] = {**OTHERS_OFF, "workers.sidecarset.enabled": False}
WORKER_DEPLOYMENTS = {f"flotilla-worker-{worker}" for worker in DEFAULT_WORKERS}
WORKER_SERVICES = {f"flotilla-worker-{worker}-metrics" for worker in DEFAULT_WORKERS}

SIDECARSET_TYPE: dict[str, Any] = {
    "enabled": True,
    "replicas": 2,
    "watches": [
        {"apiGroups": ["apps.kruise.io"], "resources": ["sidecarsets"]},
        {"apiGroups": [""], "resources": ["pods"]},
    ],
    "rules": [
        {"apiGroups": ["apps.kruise.io"], "resources": ["sidecarsets"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps.kruise.io"], "resources": ["sidecarsets/status"], "verbs": ["update", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]},
    ],
}


@pytest.fixture(scope="module")
def default_objects() -> list[Manifest]:
    return render()


def test_helm_lint_passes_with_defaults_and_with_every_option_on() -> None:
    helm_run("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION)
    sets = [arg for key, value in ALL_OPTIONS.items() for arg in ("--set", f"{key}={str(value).lower()}")]
    result = helm_run("lint", str(CHART), "--kube-version", KUBE_VERSION, *sets)
    assert "0 chart(s) failed" in result.stdout


def test_default_release_has_the_watcher_the_cloneset_and_job_workers_and_their_rbac(
    default_objects: list[Manifest],
) -> None:
    components = {"flotilla-watcher", "flotilla-webhook", *WORKER_DEPLOYMENTS}
    assert names(default_objects, "Deployment") == components
    assert names(default_objects, "ServiceAccount") == components
    assert names(default_objects, "ClusterRole") == components
    assert names(default_objects, "ClusterRoleBinding") == components
    assert names(default_objects, "Role") == {
        "flotilla-watcher-leader-election",
        "flotilla-webhook-certs",
        "flotilla-webhook-revisions",
    }
    assert names(default_objects, "PodDisruptionBudget") == components
    assert names(default_objects, "Service") == {
        "flotilla-watcher-metrics",
        "flotilla-webhook",
        *WORKER_SERVICES,
    }
    for kind in ("HorizontalPodAutoscaler", "ScaledObject", "ServiceMonitor", "StatefulSet"):
        assert of_kind(default_objects, kind) == []
    assert names(default_objects, "Secret") == {"flotilla-webhook-certs"}
    webhook = named(default_objects, "Deployment", "flotilla-webhook")
    assert webhook["spec"]["replicas"] == 2


def test_node_agent_is_off_by_default(default_objects: list[Manifest]) -> None:
    assert "flotilla-node-agent" not in names(default_objects, "DaemonSet")
    assert "flotilla-node-agent" not in names(default_objects, "ClusterRole")


def test_watcher_runs_two_leader_elected_replicas(default_objects: list[Manifest]) -> None:
    watcher = named(default_objects, "Deployment", "flotilla-watcher")
    assert watcher["spec"]["replicas"] == 2
    assert watcher["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    container = watcher["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["watcher", "--lease-name=flotilla-watcher"]
    env = env_of(container)
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, "the Lease's namespace"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}, "the holder identity"
    assert env["FLOTILLA_WATCH_TYPES"] == ",".join(DEFAULT_WORKERS)
    assert watcher["spec"]["template"]["spec"]["serviceAccountName"] == "flotilla-watcher"
    lease_role = named(default_objects, "Role", "flotilla-watcher-leader-election")
    assert lease_role["metadata"]["namespace"] == "flotilla-system"
    named_rule = next(rule for rule in lease_role["rules"] if "resourceNames" in rule)
    assert named_rule["resourceNames"] == ["flotilla-watcher"]


def test_every_process_serves_health_and_metrics_on_one_port(default_objects: list[Manifest]) -> None:
    for where, spec in pod_specs(default_objects):
        container = spec["containers"][0]
        assert container["ports"][0] == {"name": "http", "containerPort": 8080, "protocol": "TCP"}, where
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, where
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, where
        assert env_of(container)["FLOTILLA_HTTP_PORT"] == "8080", where
        assert env_of(container)["NATS_URL"] == "nats://nats.nats-system.svc:4222", where


def test_cloneset_worker_replicas_and_resources_are_set_per_type() -> None:
    objects = render(
        {
            "workers.cloneset.replicas": 3,
            "workers.cloneset.resources.limits.memory": "1Gi",
            "workers.cloneset.pdb.enabled": False,
        }
    )
    worker = named(objects, "Deployment", "flotilla-worker-cloneset")
    assert worker["spec"]["replicas"] == 3
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker", "cloneset"]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert env_of(container)["OTEL_SERVICE_NAME"] == "flotilla-worker-cloneset"
    assert names(objects, "PodDisruptionBudget") == {
        "flotilla-watcher",
        "flotilla-webhook",
        "flotilla-worker-advancedcronjob",
        "flotilla-worker-broadcastjob",
        "flotilla-worker-containerlaunchpriority",
        "flotilla-worker-podunavailablebudget",
        "flotilla-worker-sidecarset",
        "flotilla-worker-statefulset",
        "flotilla-worker-uniteddeployment",
    }, "false overrides a true default, for that type alone"


def test_a_worker_type_is_data_in_values() -> None:
    objects = render(OTHERS_OFF, values_yaml={"workers": {"sidecarset": SIDECARSET_TYPE}})
    assert names(objects, "Deployment") == {
        "flotilla-watcher",
        "flotilla-worker-cloneset",
        "flotilla-worker-sidecarset",
        "flotilla-webhook",
    }
    worker = named(objects, "Deployment", "flotilla-worker-sidecarset")
    assert worker["spec"]["replicas"] == 2
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker", "sidecarset"]
    assert named(objects, "ClusterRole", "flotilla-worker-sidecarset")["rules"] == SIDECARSET_TYPE["rules"]
    binding = named(objects, "ClusterRoleBinding", "flotilla-worker-sidecarset")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "flotilla-worker-sidecarset", "namespace": "flotilla-system"}
    ]
    watcher_rules = named(objects, "ClusterRole", "flotilla-watcher")["rules"]
    assert {
        "apiGroups": ["apps.kruise.io"],
        "resources": ["sidecarsets"],
        "verbs": ["get", "list", "watch"],
    } in (watcher_rules)
    watcher_env = env_of(
        named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    )
    assert watcher_env["FLOTILLA_WATCH_TYPES"] == "cloneset,sidecarset"


def test_a_disabled_worker_type_leaves_nothing_behind() -> None:
    objects = render(
        {"workers.cloneset.enabled": False, **OTHERS_OFF},
        values_yaml={"workers": {"sidecarset": SIDECARSET_TYPE}},
    )
    rendered = {f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects}
    assert not [name for name in rendered if "cloneset" in name]
    watcher_rules = named(objects, "ClusterRole", "flotilla-watcher")["rules"]
    assert watcher_rules == [
        {"apiGroups": ["apps.kruise.io"], "resources": ["sidecarsets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    ], "the watcher no longer reads what only the CloneSet worker needed"


def test_hpa_replaces_the_fixed_replica_count() -> None:
    objects = render(
        {"workers.cloneset.autoscaling.enabled": True, "workers.cloneset.autoscaling.maxReplicas": 7}
    )
    assert "replicas" not in named(objects, "Deployment", "flotilla-worker-cloneset")["spec"]
    hpa = named(objects, "HorizontalPodAutoscaler", "flotilla-worker-cloneset")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "flotilla-worker-cloneset",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 7)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }


def test_keda_scales_a_type_on_its_jetstream_consumer_lag() -> None:
    objects = render(
        {
            "workers.cloneset.keda.enabled": True,
            "workers.cloneset.keda.monitoringEndpoint": "nats.nats-system.svc:8222",
            "workers.cloneset.keda.lagThreshold": 20,
        }
    )
    assert "replicas" not in named(objects, "Deployment", "flotilla-worker-cloneset")["spec"]
    scaled = named(objects, "ScaledObject", "flotilla-worker-cloneset")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "flotilla-worker-cloneset"
    assert scaled["spec"]["triggers"] == [
        {
            "type": "nats-jetstream",
            "metadata": {
                "natsServerMonitoringEndpoint": "nats.nats-system.svc:8222",
                "account": "$G",
                "stream": "RECONCILE",
                "consumer": "worker-cloneset",
                "lagThreshold": "20",
                "activationLagThreshold": "0",
            },
        }
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"workers.cloneset.keda.enabled": True, "workers.cloneset.autoscaling.enabled": True},
            "workers.cloneset: autoscaling.enabled and keda.enabled are exclusive",
        ),
        ({"workers.cloneset.keda.enabled": True}, "workers.cloneset.keda.monitoringEndpoint is required"),
        ({"nats.url": ""}, "nats.url is required"),
        ({"workers.cloneset.enabled": False, **CLONESET_ONLY}, "no worker type is enabled"),
    ],
)
def test_contradictory_settings_fail_with_a_message_saying_what_to_change(
    values: dict[str, object], message: str
) -> None:
    result = render_text(values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_nats_existing_server_with_a_credentials_secret() -> None:
    objects = render({"nats.url": "tls://nats.example:4222", "nats.credentialsSecret.name": "flotilla-nats"})
    for where, spec in pod_specs(objects):
        container = spec["containers"][0]
        env = env_of(container)
        assert env["NATS_URL"] == "tls://nats.example:4222", where
        assert env["NATS_CREDS"] == "/etc/flotilla/nats/nats.creds", where
        volume = next(v for v in spec["volumes"] if v["name"] == "nats-credentials")
        assert volume["secret"]["secretName"] == "flotilla-nats", where
        mount = next(m for m in container["volumeMounts"] if m["name"] == "nats-credentials")
        assert mount == {"name": "nats-credentials", "mountPath": "/etc/flotilla/nats", "readOnly": True}, (
            where
        )


def test_bundled_nats_dependency_is_used_when_enabled() -> None:
    objects = render({"natsServer.enabled": True, "natsServer.replicas": 3})
    server = named(objects, "StatefulSet", "flotilla-nats")
    assert server["spec"]["replicas"] == 3
    config = named(objects, "ConfigMap", "flotilla-nats-config")["data"]["nats.conf"]
    assert "jetstream {" in config
    assert "nats://flotilla-nats-2.flotilla-nats-headless.flotilla-system.svc:6222" in config
    assert names(objects, "Service") >= {"flotilla-nats", "flotilla-nats-headless"}
    for where, spec in pod_specs(objects):
        if where.startswith("Deployment/"):
            assert (
                env_of(spec["containers"][0])["NATS_URL"] == "nats://flotilla-nats.flotilla-system.svc:4222"
            )


def test_tracing_is_configured_only_through_otel_variables() -> None:
    off = env_of(
        named(render(), "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    )
    assert off["OTEL_SDK_DISABLED"] == "true"
    assert off["OTEL_TRACES_EXPORTER"] == "none"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in off
    objects = render(
        {
            "tracing.enabled": True,
            "tracing.endpoint": "http://jaeger.observability:4318",
            "tracing.sampler": "traceidratio",
            "tracing.samplerArg": "0.25",
            "tracing.resourceAttributes.deployment\\.environment": "staging",
        }
    )
    for where, spec in pod_specs(objects):
        env = env_of(spec["containers"][0])
        assert env["OTEL_SDK_DISABLED"] == "false", where
        assert env["OTEL_TRACES_EXPORTER"] == "otlp", where
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger.observability:4318", where
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf", where
        assert env["OTEL_TRACES_SAMPLER"] == "traceidratio", where
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25", where
        assert "deployment.environment=staging" in env["OTEL_RESOURCE_ATTRIBUTES"].split(","), where
    services = {env_of(spec["containers"][0])["OTEL_SERVICE_NAME"] for _, spec in pod_specs(objects)}
    assert services == {"flotilla-watcher", "flotilla-webhook", *WORKER_DEPLOYMENTS}


def test_service_monitor_scrapes_every_component() -> None:
    objects = render(
        {"metrics.serviceMonitor.enabled": True, "metrics.serviceMonitor.labels.release": "prom"}
    )
    monitor = named(objects, "ServiceMonitor", "flotilla")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        svc["metadata"]["name"]
        for svc in of_kind(objects, "Service")
        if selector.items() <= svc["metadata"]["labels"].items()
    ]
    assert set(scraped) == {"flotilla-watcher-metrics", "flotilla-webhook", *WORKER_SERVICES}


def test_every_pod_runs_non_root_read_only_without_capabilities() -> None:
    objects = render(
        {key: value for key, value in ALL_OPTIONS.items() if key != "workers.cloneset.keda.enabled"}
    )
    specs = pod_specs(objects)
    assert {where for where, _ in specs} == {
        "Deployment/flotilla-watcher",
        "Deployment/flotilla-webhook",
        "StatefulSet/flotilla-nats",
        *(f"Deployment/{name}" for name in WORKER_DEPLOYMENTS),
    }
    for where, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in spec["containers"] + spec.get("initContainers", []):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert security.get("privileged", False) is False, where


def test_rbac_is_least_privilege() -> None:
    objects = render({"webhook.enabled": True})
    for role in of_kind(objects, "ClusterRole") + of_kind(objects, "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role['metadata']['name']} has a wildcard in {field}"
    watcher = named(objects, "ClusterRole", "flotilla-watcher")
    for rule in watcher["rules"]:
        assert rule["verbs"] == ["get", "list", "watch"], rule  # it emits no Events either
    watched = {
        (group, resource)
        for rule in watcher["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert watched == {
        ("apps.kruise.io", "clonesets"),
        ("", "pods"),
        ("", "persistentvolumeclaims"),
        ("apps", "controllerrevisions"),
        # the job workers' kinds: nodes for BroadcastJob, Jobs for AdvancedCronJob's jobTemplate
        ("apps.kruise.io", "broadcastjobs"),
        ("", "nodes"),
        ("apps.kruise.io", "advancedcronjobs"),
        ("batch", "jobs"),
        ("apps.kruise.io", "statefulsets"),  # the Advanced StatefulSet worker's kind
        # the UnitedDeployment worker's kind and its subsets' apps/v1 kinds
        ("apps.kruise.io", "uniteddeployments"),
        ("apps", "statefulsets"),
        ("apps", "deployments"),
        ("policy.kruise.io", "podunavailablebudgets"),  # the PUB worker's kind
        ("apps.kruise.io", "sidecarsets"),  # the SidecarSet worker's kind (cluster-scoped)
    }
    worker = named(objects, "ClusterRole", "flotilla-worker-cloneset")
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in worker["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    # Exactly the calls workers/cloneset and workers/runtime make (a GET of the CloneSet and of a
    # node, LISTs of what it owns, creates, merge/strategic patches, deletes, the status PUT of a
    # dead letter, Events); no list/watch of CloneSets, no GET or PUT of pods.
    assert granted == {
        ("apps.kruise.io", "clonesets"): {"get", "patch"},
        ("apps.kruise.io", "clonesets/status"): {"update", "patch"},
        ("apps.kruise.io", "clonesets/finalizers"): {"update"},
        ("", "pods"): {"list", "create", "patch", "delete"},
        ("", "pods/status"): {"patch"},
        ("", "pods/finalizers"): {"update"},
        ("", "persistentvolumeclaims"): {"list", "create", "patch", "delete"},
        ("apps", "controllerrevisions"): {"list", "create", "patch", "delete"},
        ("apps.kruise.io", "imagepulljobs"): {"list", "create", "delete"},
        ("", "events"): {"create", "patch"},
        ("", "nodes"): {"get"},
        ("policy.kruise.io", "podunavailablebudgets"): {"get"},
        ("policy.kruise.io", "podunavailablebudgets/status"): {"update"},
    }


def test_namespace_scoped_install_uses_roles_in_each_watched_namespace() -> None:
    objects = render(CLONESET_ONLY, values_yaml={"watchNamespaces": ["team-a", "team-b"]})
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(watcher)["FLOTILLA_WATCH_NAMESPACE"] == "team-a,team-b"
    # Nothing namespaced is granted cluster-wide: the watcher watches no cluster-scoped kind.
    assert "flotilla-watcher" not in names(objects, "ClusterRole")
    worker_cluster = named(objects, "ClusterRole", "flotilla-worker-cloneset")
    assert worker_cluster["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
    cluster_wide = render(CLONESET_ONLY)
    everywhere = {
        (group, resource): set(rule["verbs"])
        for rule in named(cluster_wide, "ClusterRole", "flotilla-worker-cloneset")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    for namespace in ("team-a", "team-b"):
        roles = [r for r in of_kind(objects, "Role") if r["metadata"]["namespace"] == namespace]
        by_name = {r["metadata"]["name"]: r for r in roles}
        assert set(by_name) == {"flotilla-watcher", "flotilla-worker-cloneset"}
        watched = {
            (g, r)
            for rule in by_name["flotilla-watcher"]["rules"]
            for g in rule["apiGroups"]
            for r in rule["resources"]
        }
        assert watched == {
            ("apps.kruise.io", "clonesets"),
            ("", "pods"),
            ("", "persistentvolumeclaims"),
            ("apps", "controllerrevisions"),
        }
        assert all(rule["verbs"] == ["get", "list", "watch"] for rule in by_name["flotilla-watcher"]["rules"])
        granted = {
            (group, resource): set(rule["verbs"])
            for rule in by_name["flotilla-worker-cloneset"]["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }
        assert granted == {k: v for k, v in everywhere.items() if k != ("", "nodes")}
        bindings = {
            b["metadata"]["name"]: b
            for b in of_kind(objects, "RoleBinding")
            if b["metadata"]["namespace"] == namespace
        }
        for name in ("flotilla-watcher", "flotilla-worker-cloneset"):
            assert bindings[name]["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": name,
            }
            assert bindings[name]["subjects"] == [
                {"kind": "ServiceAccount", "name": name, "namespace": "flotilla-system"}
            ]
    # The leader-election Role stays in the release namespace.
    assert (
        named(objects, "Role", "flotilla-watcher-leader-election")["metadata"]["namespace"]
        == "flotilla-system"
    )


#: kind of each resource the webhook registers for (Kubernetes' and kruise's API, by hand).
RESOURCE_KINDS = {
    ("", "pods"): "Pod",
    ("", "pods/eviction"): ("policy", "Eviction"),
    ("", "namespaces"): "Namespace",
    ("", "services"): "Service",
    ("apiextensions.k8s.io", "customresourcedefinitions"): "CustomResourceDefinition",
    ("apps", "deployments"): "Deployment",
    ("apps", "replicasets"): "ReplicaSet",
    ("apps", "statefulsets"): "StatefulSet",
    ("networking.k8s.io", "ingresses"): "Ingress",
    ("apps.kruise.io", "clonesets"): "CloneSet",
    ("apps.kruise.io", "statefulsets"): "StatefulSet",
    ("apps.kruise.io", "uniteddeployments"): "UnitedDeployment",
    ("apps.kruise.io", "broadcastjobs"): "BroadcastJob",
    ("apps.kruise.io", "advancedcronjobs"): "AdvancedCronJob",
    ("policy.kruise.io", "podunavailablebudgets"): "PodUnavailableBudget",
    ("apps.kruise.io", "sidecarsets"): "SidecarSet",
    ("apps.kruise.io", "containerrecreaterequests"): "ContainerRecreateRequest",
    ("apps.kruise.io", "imagepulljobs"): "ImagePullJob",
    ("apps.kruise.io", "imagelistpulljobs"): "ImageListPullJob",
    ("apps.kruise.io", "nodeimages"): "NodeImage",
}


def _route_key(group: str, resource: str, operation: str) -> tuple[str, str, str]:
    """(group, kind, operation) of an admission request for a rule's resource (an eviction is
    sent as policy/v1 Eviction)."""
    kind = RESOURCE_KINDS[(group, resource)]
    return (*kind, operation) if isinstance(kind, tuple) else (group, kind, operation)


def test_webhook_cannot_stop_the_cluster_and_serves_what_it_registers(
    default_objects: list[Manifest],
) -> None:
    from webhook.dispatch import route_table

    routes = route_table()
    secret = named(default_objects, "Secret", "flotilla-webhook-certs")
    assert "data" not in secret, "the webhook fills its Secret; helm upgrades leave that data alone"
    service = named(default_objects, "Service", "flotilla-webhook")
    assert {"name": "https", "port": 443, "targetPort": "webhook", "protocol": "TCP"} in service["spec"][
        "ports"
    ]
    mutating = named(default_objects, "MutatingWebhookConfiguration", "flotilla-webhook")
    validating = named(default_objects, "ValidatingWebhookConfiguration", "flotilla-webhook")
    assert [hook["name"] for hook in mutating["webhooks"]] == [
        "mpod.kb.io",
        "mcloneset.kb.io",
        "mstatefulset.kb.io",
        "mbroadcastjob.kb.io",
        "madvancedcronjob.kb.io",
        "muniteddeployment.kb.io",
        "mcontainerrecreaterequest.kb.io",
        "mimagepulljob.kb.io",
        "mimagelistpulljob.kb.io",
        "mnodeimage.kb.io",
        "msidecarset.kb.io",
    ]
    assert mutating["webhooks"][0]["failurePolicy"] == "Ignore", "a down webhook never stops pod creation"
    policies = {hook["name"]: hook["failurePolicy"] for hook in mutating["webhooks"] + validating["webhooks"]}
    for name in (
        "mcloneset.kb.io",
        "vclonesetspec.kb.io",
        "mstatefulset.kb.io",
        "vstatefulsetspec.kb.io",
        "vbroadcastjobspec.kb.io",
        "vadvancedcronjobspec.kb.io",
        "vpodunavailablebudgetspec.kb.io",
        "msidecarset.kb.io",
        "vsidecarset.kb.io",
        "muniteddeployment.kb.io",
        "vuniteddeploymentspec.kb.io",
        "mcontainerrecreaterequest.kb.io",
        "mimagepulljob.kb.io",
        "vimagepulljobspec.kb.io",
        "mimagelistpulljob.kb.io",
        "vimagelistpulljobspec.kb.io",
        "mnodeimage.kb.io",
        "vnodeimagespec.kb.io",
        "vpod.kb.io",
        "vpodeviction.kb.io",
    ):
        assert policies[name] == "Ignore", name
    for hook in validating["webhooks"]:
        if "objectSelector" not in hook:
            continue
        assert hook["failurePolicy"] == "Fail", f"{hook['name']}: deletion protection fails closed, as kruise"
        assert hook["objectSelector"] == {
            "matchExpressions": [{"key": "policy.kruise.io/delete-protection", "operator": "Exists"}]
        }, f"{hook['name']}: only labelled objects are sent"
    for hook in mutating["webhooks"] + validating["webhooks"]:
        client = hook["clientConfig"]
        assert "caBundle" not in client, "set by the webhook itself"
        service_ref = {k: client["service"][k] for k in ("name", "namespace", "port")}
        assert service_ref == {"name": "flotilla-webhook", "namespace": "flotilla-system", "port": 443}
        assert hook["timeoutSeconds"] <= 5
        excluded = hook["namespaceSelector"]["matchExpressions"][0]
        assert excluded["operator"] == "NotIn"
        assert {"flotilla-system", "kube-system"} <= set(excluded["values"])
        path = client["service"]["path"]
        for rule in hook["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for operation in rule["operations"]:
                        key = _route_key(group, resource, operation)
                        assert key in routes[path], (
                            f"{hook['name']} sends {key} to {path}, which has no route"
                        )
    registered = {
        _route_key(group, resource, operation)
        for hook in validating["webhooks"]
        for rule in hook["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }
    assert registered == set(routes["/validate"]), "every validating route is registered"


def test_webhook_rbac_reads_and_writes_only_what_it_needs(default_objects: list[Manifest]) -> None:
    cluster = named(default_objects, "ClusterRole", "flotilla-webhook")["rules"]
    assert cluster == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            "resourceNames": ["flotilla-webhook"],
            "verbs": ["get", "update"],
        },
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "resourceNames": ["statefulsets.apps.kruise.io", "sidecarsets.apps.kruise.io"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": ["policy.kruise.io"], "resources": ["podunavailablebudgets"], "verbs": ["get", "list"]},
        {
            "apiGroups": ["policy.kruise.io"],
            "resources": ["podunavailablebudgets/status"],
            "verbs": ["update"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["apps.kruise.io"], "resources": ["sidecarsets"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["kruise-configuration"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
    ]
    revisions = named(default_objects, "Role", "flotilla-webhook-revisions")
    assert revisions["metadata"]["namespace"] == "flotilla-system", "where the SidecarSet worker keeps them"
    assert revisions["rules"] == [
        {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["get", "list"]}
    ]
    role = named(default_objects, "Role", "flotilla-webhook-certs")
    assert role["metadata"]["namespace"] == "flotilla-system"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["flotilla-webhook-certs"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    container = named(default_objects, "Deployment", "flotilla-webhook")["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = env_of(container)
    assert env["FLOTILLA_WEBHOOK_SECRET"] == "flotilla-webhook-certs"
    assert env["FLOTILLA_WEBHOOK_SERVICE"] == "flotilla-webhook"
    assert env["FLOTILLA_WEBHOOK_CERT_DIR"] == "/tmp/webhook-tls", "on the writable emptyDir"
    assert env["FLOTILLA_WEBHOOK_CRD_CONVERSION"] == "true", "the conversion webhook, as kruise-manager"
    assert env["FLOTILLA_KRUISE_CONFIGURATION"] == "kruise-system/kruise-configuration", "kruise's own"


def test_without_crd_conversion_the_webhook_may_not_touch_crds() -> None:
    objects = render({"webhook.crdConversion": False})
    container = named(objects, "Deployment", "flotilla-webhook")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["FLOTILLA_WEBHOOK_CRD_CONVERSION"] == "false"
    rules = named(objects, "ClusterRole", "flotilla-webhook")["rules"]
    assert not [rule for rule in rules if "apiextensions.k8s.io" in rule["apiGroups"]]


def test_webhook_certificate_from_cert_manager() -> None:
    objects = render({"webhook.enabled": True, "webhook.certManager.enabled": True})
    assert of_kind(objects, "Secret") == []
    assert names(objects, "Role") == {
        "flotilla-watcher-leader-election",
        "flotilla-webhook-revisions",
    }, "no Secret to write"
    certificate = named(objects, "Certificate", "flotilla-webhook")
    assert certificate["spec"]["secretName"] == "flotilla-webhook-certs"
    container = named(objects, "Deployment", "flotilla-webhook")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["FLOTILLA_WEBHOOK_EXTERNAL_CERTS"] == "true"
    assert certificate["spec"]["issuerRef"] == {"kind": "Issuer", "name": "flotilla-webhook-selfsigned"}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        configuration = named(objects, kind, "flotilla-webhook")
        assert configuration["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": "flotilla-system/flotilla-webhook"
        }
        assert all("caBundle" not in hook["clientConfig"] for hook in configuration["webhooks"])


def _value_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the documented values: leaves, free-form maps and lists count as one."""
    free_form = {"resources", "podSecurityContext", "containerSecurityContext"}
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in free_form:
            paths += _value_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def test_readme_lists_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    missing = [path for path in _value_paths(values) if f"`{path}`" not in readme]
    assert not missing, f"charts/flotilla/README.md does not list: {missing}"
    for documented in (
        "helm install flotilla charts/flotilla -n flotilla-system --create-namespace",
        "--set workers.cloneset.replicas=3",
    ):
        assert documented in readme


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workers.cloneset.replicas": -1}, "at '/workers/cloneset/replicas': minimum: got -1, want 0"),
        ({"workers.cloneset.replicaz": 3}, "additional properties 'replicaz' not allowed"),
        ({"watcher.replicas": 0}, "at '/watcher/replicas': minimum: got 0, want 1"),
        ({"tracing.sampler": "sometimes"}, "at '/tracing/sampler': value must be one of"),
        ({"tracing.samplerArg": "2"}, "at '/tracing/samplerArg'"),
        ({"nats.url": "http://nats:4222"}, "at '/nats/url'"),
        ({"webhook.failurePolicy.pods": "Maybe"}, "value must be one of 'Fail', 'Ignore'"),
        ({"webhook.timeoutSeconds": 10}, "at '/webhook/timeoutSeconds': maximum: got 10, want 5"),
        ({"workers.Bad_Type.enabled": True}, "'Bad_Type' does not match pattern"),
        ({"image.pullPolicy": "Sometimes"}, "at '/image/pullPolicy'"),
        ({"logLevel": "verbose"}, "at '/logLevel'"),
    ],
)
def test_a_bad_value_fails_with_the_schema_message(values: dict[str, object], message: str) -> None:
    result = render_text(values, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema(s)" in result.stderr
    assert message in result.stderr, result.stderr


def _worker_env(objects: list[Manifest], worker_type: str) -> dict[str, Any]:
    deployment = named(objects, "Deployment", f"flotilla-worker-{worker_type}")
    return env_of(deployment["spec"]["template"]["spec"]["containers"][0])


def test_feature_gates_global_and_per_type(default_objects: list[Manifest]) -> None:
    assert "FLOTILLA_FEATURE_GATES" not in _worker_env(default_objects, "cloneset"), "kruise's defaults"
    values_yaml = {"featureGates": "AllAlpha=true,AllBeta=true", "workers": {"sidecarset": SIDECARSET_TYPE}}
    objects = render(values_yaml=values_yaml)
    assert _worker_env(objects, "cloneset")["FLOTILLA_FEATURE_GATES"] == "AllAlpha=true,AllBeta=true"
    assert _worker_env(objects, "sidecarset")["FLOTILLA_FEATURE_GATES"] == "AllAlpha=true,AllBeta=true"
    override = {**SIDECARSET_TYPE, "featureGates": "EnableSortSidecarContainerByName=true"}
    objects = render(values_yaml={**values_yaml, "workers": {"sidecarset": override}})
    assert _worker_env(objects, "cloneset")["FLOTILLA_FEATURE_GATES"] == "AllAlpha=true,AllBeta=true"
    assert (
        _worker_env(objects, "sidecarset")["FLOTILLA_FEATURE_GATES"]
        == "EnableSortSidecarContainerByName=true"
    )


def test_malformed_feature_gates_fail_the_install() -> None:
    result = render_text({"featureGates": "PreparingUpdateAsUpdate"}, check=False)
    assert result.returncode != 0
    assert "featureGates" in result.stderr
