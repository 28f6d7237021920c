"""The chart's NATS hardening, on `helm template` output: the bundled server's per-component
users (permissions from schemas/bus/permissions.py, the config accepted by the real
nats-server), each component signing in as its own user, TLS to NATS (CA and client
certificate mounted, the bundled server's TLS config accepted by the real nats-server), and
nothing but Flotilla reaching the bundled server (NetworkPolicy).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from flotilla.devcluster.nats import find_nats_server
from flotilla.devcluster.pki import issue_serving_cert, make_ca
from schemas.bus.permissions import ADMIN_USER, WATCHER_USER, users, worker_user
from tests.unit.helm.chart_render import env_of, named, pod_specs, render, render_text
from tests.unit.helm.test_helm_chart import DEFAULT_WORKERS, SIDECARSET_TYPE

BUNDLED = {"natsServer.enabled": True}


def _auth_users(objects: list[dict[str, object]]) -> list[dict[str, object]]:
    secret = named(objects, "Secret", "flotilla-nats-auth")
    text = secret["stringData"]["auth.conf"]
    found = re.search(r"users: (\[.*\])", text)
    assert found, text
    parsed: list[dict[str, object]] = json.loads(found.group(1))
    return parsed


def test_bundled_nats_has_one_user_per_component_with_the_permission_table() -> None:
    objects = render(BUNDLED, values_yaml={"workers": {"sidecarset": SIDECARSET_TYPE}})
    rendered = {entry["user"]: entry for entry in _auth_users(objects)}
    expected = users(DEFAULT_WORKERS)
    assert set(rendered) == set(expected)
    for user, permissions in expected.items():
        if permissions is None:
            assert "permissions" not in rendered[user], user
        else:
            assert rendered[user]["permissions"] == permissions.as_nats(), user
    secret = named(objects, "Secret", "flotilla-nats-auth")["stringData"]
    for user in expected:
        password = secret[f"password-{user}"]
        assert len(password) == 32
        assert rendered[user]["password"] == password


def test_each_component_signs_in_as_its_own_user() -> None:
    objects = render(BUNDLED)
    users_by_pod = {}
    for where, spec in pod_specs(objects):
        if not where.startswith("Deployment/"):
            continue
        container = spec["containers"][0]
        env = env_of(container)
        if where == "Deployment/flotilla-webhook":
            assert "NATS_USER" not in env, "the webhook needs no NATS"
            assert "NATS_PASSWORD" not in env, "the webhook needs no NATS"
            continue
        password = next(e for e in container["env"] if e["name"] == "NATS_PASSWORD")
        assert password["valueFrom"]["secretKeyRef"] == {
            "name": "flotilla-nats-auth",
            "key": f"password-{env['NATS_USER']}",
        }
        users_by_pod[where] = env["NATS_USER"]
    assert users_by_pod == {
        "Deployment/flotilla-watcher": WATCHER_USER,
        **{f"Deployment/flotilla-worker-{kind}": worker_user(kind) for kind in DEFAULT_WORKERS},
    }


def test_the_real_nats_server_accepts_the_rendered_config(tmp_path: Path) -> None:
    objects = render(BUNDLED)
    config = named(objects, "ConfigMap", "flotilla-nats-config")["data"]["nats.conf"]
    assert "include ../nats-auth/auth.conf" in config
    statefulset = named(objects, "StatefulSet", "flotilla-nats")
    mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "auth", "mountPath": "/etc/nats-auth", "readOnly": True} in mounts
    (tmp_path / "nats").mkdir()
    (tmp_path / "nats-auth").mkdir()
    (tmp_path / "nats" / "nats.conf").write_text(config.replace("/data", str(tmp_path / "data")))
    auth = named(objects, "Secret", "flotilla-nats-auth")["stringData"]["auth.conf"]
    (tmp_path / "nats-auth" / "auth.conf").write_text(auth)
    result = subprocess.run(
        [str(find_nats_server()), "-c", str(tmp_path / "nats" / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"SERVER_NAME": "flotilla-nats-0"},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_auth_off_leaves_the_bundled_server_open_and_components_anonymous() -> None:
    objects = render({**BUNDLED, "natsServer.auth.enabled": False})
    assert not [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "flotilla-nats-auth"]
    assert "nats-auth" not in named(objects, "ConfigMap", "flotilla-nats-config")["data"]["nats.conf"]
    for _, spec in pod_specs(objects):
        assert "NATS_USER" not in env_of(spec["containers"][0])


def test_admin_user_is_listed_for_operators() -> None:
    assert ADMIN_USER in {entry["user"] for entry in _auth_users(render(BUNDLED))}


def test_tls_to_nats_mounts_the_ca_and_client_certificate() -> None:
    objects = render({"nats.tls.enabled": True, "nats.tls.secretName": "flotilla-nats-tls"})
    for where, spec in pod_specs(objects):
        container = spec["containers"][0]
        env = env_of(container)
        assert env["NATS_CA"] == "/etc/flotilla/nats-tls/ca.crt", where
        assert env["NATS_CERT"] == "/etc/flotilla/nats-tls/tls.crt", where
        assert env["NATS_KEY"] == "/etc/flotilla/nats-tls/tls.key", where
        volume = next(v for v in spec["volumes"] if v["name"] == "nats-tls")
        assert volume["secret"]["secretName"] == "flotilla-nats-tls", where
        mount = next(m for m in container["volumeMounts"] if m["name"] == "nats-tls")
        assert mount == {"name": "nats-tls", "mountPath": "/etc/flotilla/nats-tls", "readOnly": True}, where
    ca_only = render(
        {"nats.tls.enabled": True, "nats.tls.secretName": "ca", "nats.tls.clientCertificate": False}
    )
    for where, spec in pod_specs(ca_only):
        env = env_of(spec["containers"][0])
        assert "NATS_CA" in env, where
        assert "NATS_CERT" not in env, where
        assert "NATS_KEY" not in env, where
    for where, spec in pod_specs(render()):
        assert "NATS_CA" not in env_of(spec["containers"][0]), where


def test_tls_without_a_secret_fails_with_a_message() -> None:
    result = render_text({"nats.tls.enabled": True}, check=False)
    assert result.returncode != 0
    assert "nats.tls.secretName is required when nats.tls.enabled" in result.stderr


def test_bundled_server_with_tls_is_accepted_by_the_real_nats_server(tmp_path: Path) -> None:
    objects = render({**BUNDLED, "natsServer.tls.secretName": "nats-server-tls"})
    config = named(objects, "ConfigMap", "flotilla-nats-config")["data"]["nats.conf"]
    assert "verify: true" in config
    statefulset = named(objects, "StatefulSet", "flotilla-nats")["spec"]["template"]["spec"]
    volume = next(v for v in statefulset["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "nats-server-tls"
    ca = make_ca(tmp_path / "pki")
    serving = issue_serving_cert(ca, tmp_path / "pki", "tls", ("flotilla-nats.flotilla-system.svc",))
    (tmp_path / "nats").mkdir()
    (tmp_path / "nats-auth").mkdir()
    config = config.replace("/data", str(tmp_path / "data")).replace("/etc/nats-tls/", f"{tmp_path}/pki/")
    (tmp_path / "nats" / "nats.conf").write_text(config)
    auth = named(objects, "Secret", "flotilla-nats-auth")["stringData"]["auth.conf"]
    (tmp_path / "nats-auth" / "auth.conf").write_text(auth)
    assert serving.cert == tmp_path / "pki" / "tls.crt"
    result = subprocess.run(
        [str(find_nats_server()), "-c", str(tmp_path / "nats" / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"SERVER_NAME": "flotilla-nats-0"},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _peers_by_port(policy: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["ingress"]:
        for port in rule["ports"]:
            assert port["protocol"] == "TCP"
            found.setdefault(port["port"], []).extend(rule["from"])
    return found


def test_network_policy_lets_only_flotillas_pods_reach_the_bundled_server() -> None:
    objects = render({**BUNDLED, "webhook.enabled": True})
    policy = named(objects, "NetworkPolicy", "flotilla-nats")
    statefulset = named(objects, "StatefulSet", "flotilla-nats")
    nats_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= nats_labels.items()  # it applies to the NATS pods
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    peers = _peers_by_port(policy)
    assert set(peers) == {4222, 6222, 8222}
    deployments = [where for where, _ in pod_specs(objects) if where.startswith("Deployment/")]
    flotilla_pods = [_pod_labels(objects, where) for where in deployments]
    assert len(flotilla_pods) == 2 + len(DEFAULT_WORKERS)  # the watcher, the default workers, the webhook
    for port in (4222, 8222):
        (peer,) = peers[port]
        assert set(peer) == {"podSelector"}  # no namespaceSelector: this namespace only
        allowed = peer["podSelector"]["matchLabels"]
        assert all(allowed.items() <= labels.items() for labels in flotilla_pods), port
        assert not allowed.items() <= nats_labels.items(), port
    (route_peer,) = peers[6222]
    assert route_peer["podSelector"]["matchLabels"] == selector


def _pod_labels(objects: list[dict[str, Any]], where: str) -> dict[str, str]:
    kind, name = where.split("/", 1)
    labels: dict[str, str] = named(objects, kind, name)["spec"]["template"]["metadata"]["labels"]
    return labels


def test_network_policy_extra_peers_and_switch() -> None:
    keda = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}
    box = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nats-box"}}}
    extra = {"natsServer": {"networkPolicy": {"monitoringFrom": [keda], "clientsFrom": [box]}}}
    objects = render(BUNDLED, values_yaml=extra)
    peers = _peers_by_port(named(objects, "NetworkPolicy", "flotilla-nats"))
    assert box in peers[4222]
    assert keda in peers[8222]
    assert keda not in peers[4222]
    off = render({**BUNDLED, "natsServer.networkPolicy.enabled": False})
    assert not [o for o in off if o["kind"] == "NetworkPolicy"]
    assert not [o for o in render() if o["kind"] == "NetworkPolicy"]  # no bundled server, no policy
