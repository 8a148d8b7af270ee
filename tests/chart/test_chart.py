"""The Helm chart helm/recalld, rendered by the real helm binary: what an operator relies on.

Every rendered manifest is validated offline against the Kubernetes OpenAPI schemas that
kubernetes-validate ships (strict: unknown fields fail), for the oldest Kubernetes the chart
supports (its kubeVersion, 1.27: native gRPC probes) and the newest the package knows.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from recalld.server.environment import known_variables, load_settings
from tests.chart.conftest import CHART, CI_VALUES, Helm

Manifest = dict[str, Any]

KNOWN = set(known_variables())
SECRET_VARS = {"RECALLD_GRAPH_PASSWORD", "RECALLD_VECTOR_TOKEN", "RECALLD_LLM_API_KEY", "RECALLD_EMBEDDING_API_KEY"}
K8S_VERSIONS = ("1.27", kubernetes_validate.latest_version())
CI = {p.name.removesuffix("-values.yaml"): p for p in CI_VALUES}
EXTERNAL = ("mode=external", "external.graph.uri=neo4j://neo4j:7687", "external.vector.uri=http://milvus:19530")

# (values files, --set) of every configuration the chart is checked in
CASES: dict[str, tuple[tuple[Path, ...], tuple[str, ...]]] = {
    "default": ((), ()),
    **{name: ((path,), ()) for name, path in CI.items()},
    "external-minimal": ((), EXTERNAL),
    "external-tls-secrets": (
        (CI["tls"],),
        (*EXTERNAL, "secrets.graphPassword=pw", "secrets.llmApiKey=sk", "networkPolicy.enabled=true"),
    ),
    "embedded-ephemeral": ((), ("persistence.enabled=false", "metrics.enabled=false", "serviceAccount.create=false")),
}


def test_ci_values_files_exist() -> None:
    assert set(CI) == {"dev", "embedded", "production", "tls"}


def kinds(docs: list[Manifest]) -> dict[str, list[Manifest]]:
    out: dict[str, list[Manifest]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def one(docs: list[Manifest], kind: str) -> Manifest:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def workload(docs: list[Manifest]) -> Manifest:
    found = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")]
    assert len(found) == 1, [d["kind"] for d in found]
    return found[0]


def pod_spec(docs: list[Manifest]) -> dict[str, Any]:
    return workload(docs)["spec"]["template"]["spec"]


def container(docs: list[Manifest]) -> dict[str, Any]:
    containers = pod_spec(docs)["containers"]
    assert [c["name"] for c in containers] == ["recalld"]
    return containers[0]


def config_data(docs: list[Manifest]) -> dict[str, str]:
    return one(docs, "ConfigMap")["data"]


def env_by_name(docs: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(docs).get("env", [])}


def port_of(docs: list[Manifest], name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container(docs)["ports"]}
    return ports[name]


def render_case(helm: Helm, case: str) -> list[Manifest]:
    values, sets = CASES[case]
    return helm.render(values, sets)


# --- lint and schema validation of every manifest -------------------------------------------------


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: "default" if v is None else v.name)
def test_helm_lint_strict(helm: Helm, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    out = helm.run(*args).stdout
    assert "0 chart(s) failed" in out, out


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_validates_against_kubernetes_schemas(helm: Helm, case: str) -> None:
    docs = render_case(helm, case)
    assert docs
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            check_service_monitor(doc, docs)
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}"
                pytest.fail(f"invalid for Kubernetes {version}: {where}: {e.message}")
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "r"
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "recalld"


def check_service_monitor(sm: Manifest, docs: list[Manifest]) -> None:
    """No built-in schema for the prometheus-operator CRD: its shape, and that it finds the Service."""
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(sm) == {"apiVersion", "kind", "metadata", "spec"}
    selector = sm["spec"]["selector"]["matchLabels"]
    [endpoint] = sm["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    services = [d for d in docs if d["kind"] == "Service" and selector.items() <= d["metadata"]["labels"].items()]
    # selected Services that carry the metrics port: exactly one, so each pod is scraped once
    scraped = [s for s in services if "metrics" in {p["name"] for p in s["spec"]["ports"]}]
    assert len(scraped) == 1, [s["metadata"]["name"] for s in scraped]


def test_validator_rejects_a_misspelt_field(helm: Helm) -> None:
    """The offline validation is strict: it would catch a typo in a template."""
    doc = workload(render_case(helm, "default"))
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


# --- values schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "where"),
    [
        (("replicaCont=2",), "'replicaCont'"),
        (("image.tagg=1.0",), "'tagg'"),
        (("persistance.size=1Gi",), "'persistance'"),
        (("tls.mutal=true",), "'mutal'"),
        (("mode=embeded",), "/mode"),
        (("external.graph.backend=postgres",), "/external/graph/backend"),
        (("config.RECALLD_SEARCH_FUSSION=rrf",), "RECALLD_SEARCH_FUSSION"),
        (("config.RECALLD_LISTEN=0.0.0.0:1",), "RECALLD_LISTEN"),
        (("config.RECALLD_GRAPH_PASSWORD=x",), "RECALLD_GRAPH_PASSWORD"),
        (("config.RECALLD_AUTH=off",), "RECALLD_AUTH"),
        (("config.RECALLD_TENANT_RATES=a=1",), "RECALLD_TENANT_RATES"),
        (("auth.mode=maybe",), "/auth/mode"),
        (("auth.bootstrapKey.secret=x",), "'secret'"),
        (("auth.audit.log=audit.jsonl",), "/auth/audit/log"),
        (("tenants.rates.Acme=5",), "Acme"),
        (("tenants.rates.acme_corp=5",), "acme_corp"),
        (("tenants.rates.-acme=5",), "-acme"),
        (("tenants.rates.acme=-1",), "/tenants/rates/acme"),
        (("tenants.maxMemoriesPerUser.acme=1.5",), "/tenants/maxMemoriesPerUser/acme"),
        (("tenants.rate=fast",), "/tenants/rate"),
        (("limits.maxMemoriesPerUser=-1",), "/limits/maxMemoriesPerUser"),
        (("limits.maxMessages=5",), "'maxMessages'"),
        (
            ("auth.jwt.issuers[0].issuer=https://a", "auth.jwt.issuers[0].configMap=j", "auth.jwt.issuers[0].secret=j"),
            "/auth/jwt/issuers/0",
        ),
        (("auth.jwt.issuers[0].issuer=https://a",), "/auth/jwt/issuers/0"),
        (("auth.jwt.issuers[0].issuer=https://a?x=1", "auth.jwt.issuers[0].configMap=j"), "/auth/jwt/issuers/0/issuer"),
    ],
)
def test_schema_rejects_typos_and_bad_values(helm: Helm, sets: tuple[str, ...], where: str) -> None:
    err = helm.render_error((), sets)
    assert "schema" in err and where in err, err
    lint = helm.run("lint", str(CHART), *Helm.value_args((), sets), check=False)
    assert lint.returncode != 0 and where in lint.stdout + lint.stderr


def test_schema_config_keys_are_the_variables_recalld_reads(helm: Helm) -> None:
    """Chart/env drift: `config` accepts exactly the RECALLD_* variables that recalld reads, less
    the ones the chart sets from its own values and the secrets. A new setting in config.py fails
    here until the schema (or a chart value) knows it."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    allowed = set(schema["properties"]["config"]["propertyNames"]["enum"])
    chart_set = set()
    for case in CASES:
        chart_set |= set(config_data(render_case(helm, case)))
    chart_set -= allowed  # keys a case passed through `config`
    assert allowed <= KNOWN, f"schema allows variables recalld does not read: {sorted(allowed - KNOWN)}"
    missing = KNOWN - allowed - chart_set - SECRET_VARS
    assert not missing, f"recalld reads {sorted(missing)}: add them to config.propertyNames in values.schema.json"
    assert not allowed & (chart_set | SECRET_VARS)


@pytest.mark.parametrize("case", CASES)
def test_every_variable_the_chart_sets_is_one_recalld_reads(helm: Helm, case: str) -> None:
    docs = render_case(helm, case)
    config = config_data(docs)
    env = env_by_name(docs)
    recalld_env = {n for n in env if n.startswith("RECALLD_")}
    assert set(config) <= KNOWN, sorted(set(config) - KNOWN)
    assert recalld_env <= KNOWN, sorted(recalld_env - KNOWN)
    # secrets never in the ConfigMap; in the container only from a Secret
    assert not set(config) & SECRET_VARS
    assert recalld_env <= SECRET_VARS
    for name in recalld_env:
        assert set(env[name]) == {"name", "valueFrom"}
        assert "secretKeyRef" in env[name]["valueFrom"]
    assert container(docs)["envFrom"][0] == {"configMapRef": {"name": one(docs, "ConfigMap")["metadata"]["name"]}}


def test_config_passes_other_settings_through(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        "config:\n  RECALLD_SEARCH_FUSION: rrf\n  RECALLD_LIMITS_MAX_REQUEST_BYTES: 10000000\n"
        "  RECALLD_DECAY_ENABLED: false\n  RECALLD_SEARCH_GRAPH_WEIGHT: 0.25\n"
    )
    config = config_data(helm.render((values,)))
    assert config["RECALLD_SEARCH_FUSION"] == "rrf"
    assert config["RECALLD_LIMITS_MAX_REQUEST_BYTES"] == "10000000"  # not 1e+07
    assert config["RECALLD_DECAY_ENABLED"] == "false"
    assert config["RECALLD_SEARCH_GRAPH_WEIGHT"] == "0.25"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("config.RECALLD_GRAPH_PASSWORD=x",), "is a secret"),
        (("config.RECALLD_DATA_DIR=/x",), "is set by the chart"),
        (("mode=external",), "needs external.graph.uri"),
        (("mode=external", "external.graph.uri=neo4j://n:7687"), "needs external.vector.uri"),
        (("tls.enabled=true",), "tls.enabled needs tls.existingSecret"),
        (("terminationGracePeriodSeconds=15",), "must exceed gracePeriodSeconds"),
        (("config.RECALLD_AUTH=off",), "is set by the chart"),
        (("config.RECALLD_TENANT_RATE=5",), "is set by the chart"),
        (("auth.mode=maybe",), "auth.mode must be auto, on or off"),
        (("auth.mode=off", "service.type=LoadBalancer"), "auth.mode=off with service.type=LoadBalancer"),
        (("auth.mode=off", "service.type=NodePort"), "use service.type=ClusterIP"),
        (("auth.jwt.issuers[0].issuer=https://a",), "set exactly one of configMap or secret"),
        (
            ("auth.jwt.issuers[0].issuer=https://a", "auth.jwt.issuers[0].configMap=j", "auth.jwt.issuers[0].secret=j"),
            "set exactly one of configMap or secret",
        ),
        (
            (
                "auth.jwt.issuers[0].issuer=https://a",
                "auth.jwt.issuers[0].configMap=j",
                "auth.jwt.issuers[1].issuer=https://a",
                "auth.jwt.issuers[1].secret=k",
            ),
            "issuer https://a is listed twice",
        ),
    ],
)
def test_render_time_checks_explain_themselves(helm: Helm, sets: tuple[str, ...], message: str) -> None:
    err = helm.render_error((), sets, "--skip-schema-validation")
    assert message in err, err


# --- embedded mode -----------------------------------------------------------------------------------


def test_embedded_is_one_statefulset_pod_with_a_volume(helm: Helm) -> None:
    for case in ("default", "embedded", "tls"):
        docs = render_case(helm, case)
        by_kind = kinds(docs)
        assert "Deployment" not in by_kind and "HorizontalPodAutoscaler" not in by_kind
        assert "PodDisruptionBudget" not in by_kind
        sts = one(docs, "StatefulSet")
        assert sts["spec"]["replicas"] == 1
        assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
        assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
        [claim] = sts["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        mounts = {m["name"]: m["mountPath"] for m in container(docs)["volumeMounts"]}
        assert mounts["data"] == "/var/lib/recalld" == config_data(docs)["RECALLD_DATA_DIR"]
        assert "data" not in {v["name"] for v in pod_spec(docs)["volumes"]}  # the claim, not an emptyDir
        assert config_data(docs)["RECALLD_GRAPH_BACKEND"] == "embedded"
        assert "RECALLD_VECTOR_URI" not in config_data(docs)  # Milvus Lite in the data directory
        headless = [s for s in by_kind["Service"] if s["spec"].get("clusterIP") == "None"]
        assert [s["metadata"]["name"] for s in headless] == [sts["spec"]["serviceName"]]
    size = one(render_case(helm, "embedded"), "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]
    assert size["resources"]["requests"]["storage"] == "20Gi"
    assert "storageClassName" not in size


def test_embedded_storage_class(helm: Helm) -> None:
    def claim(value: str) -> dict[str, Any]:
        sts = one(helm.render((), (f"persistence.storageClass={value}",)), "StatefulSet")
        return sts["spec"]["volumeClaimTemplates"][0]["spec"]

    assert claim("fast-ssd")["storageClassName"] == "fast-ssd"
    assert claim("-")["storageClassName"] == ""


def test_embedded_without_persistence_uses_an_emptydir(helm: Helm) -> None:
    docs = render_case(helm, "embedded-ephemeral")
    assert "volumeClaimTemplates" not in one(docs, "StatefulSet")["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(docs)["volumes"]


@pytest.mark.parametrize("sets", [("replicaCount=2",), ("autoscaling.enabled=true",)])
def test_embedded_refuses_a_second_pod(helm: Helm, sets: tuple[str, ...]) -> None:
    # the values schema catches it first...
    err = helm.render_error((), sets)
    assert "schema" in err and sets[0].split("=")[0].replace(".", "/") in err, err
    # ...and the template refuses it even without the schema, saying why and what to do
    err = helm.render_error((), sets, "--skip-schema-validation")
    assert "mode=embedded runs exactly one pod" in err and "mode=external" in err, err
    assert sets[0].split("=")[0] in err


def test_embedded_accepts_replica_count_one(helm: Helm) -> None:
    assert one(helm.render((), ("replicaCount=1",)), "StatefulSet")["spec"]["replicas"] == 1


# --- external mode -----------------------------------------------------------------------------------


def test_external_is_a_stateless_deployment(helm: Helm) -> None:
    docs = render_case(helm, "external-minimal")
    by_kind = kinds(docs)
    assert "StatefulSet" not in by_kind and "PersistentVolumeClaim" not in by_kind
    deploy = one(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert {"name": "data", "emptyDir": {}} in pod_spec(docs)["volumes"]
    config = config_data(docs)
    assert config["RECALLD_GRAPH_BACKEND"] == "neo4j"
    assert config["RECALLD_GRAPH_URI"] == "neo4j://neo4j:7687"
    assert config["RECALLD_VECTOR_URI"] == "http://milvus:19530"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
    assert "HorizontalPodAutoscaler" not in by_kind
    spread = pod_spec(docs)["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    # no Secret values set: no Secret, no secret variables
    assert "Secret" not in by_kind and not env_by_name(docs)


def test_external_replicas_and_pdb(helm: Helm) -> None:
    docs = helm.render((), (*EXTERNAL, "replicaCount=4"))
    assert one(docs, "Deployment")["spec"]["replicas"] == 4
    docs = helm.render((), (*EXTERNAL, "replicaCount=1"))
    assert one(docs, "Deployment")["spec"]["replicas"] == 1
    assert "PodDisruptionBudget" not in kinds(docs)  # one pod: a PDB would only block node drains
    docs = helm.render((), (*EXTERNAL, "strategy.type=Recreate"))
    assert one(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_external_falkordb(helm: Helm) -> None:
    sets = ("mode=external", "external.graph.backend=falkordb", "external.graph.uri=falkor://falkordb:6379")
    config = config_data(helm.render((), (*sets, "external.vector.uri=http://milvus:19530")))
    assert config["RECALLD_GRAPH_BACKEND"] == "falkordb"
    assert config["RECALLD_GRAPH_URI"] == "falkor://falkordb:6379"


def test_production_values(helm: Helm) -> None:
    docs = render_case(helm, "production")
    by_kind = kinds(docs)
    deploy = one(docs, "Deployment")
    assert "replicas" not in deploy["spec"]  # the HPA owns it
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "r-recalld"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert len(by_kind["ServiceMonitor"]) == 1
    assert by_kind["ServiceMonitor"][0]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # credentials from the operator's Secret; the chart creates none
    assert "Secret" not in by_kind
    env = env_by_name(docs)
    assert set(env) == {"RECALLD_GRAPH_PASSWORD", "RECALLD_VECTOR_TOKEN"}
    password = env["RECALLD_GRAPH_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": "recalld-stores", "key": "graph-password"}  # required
    assert env["RECALLD_VECTOR_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    config = config_data(docs)
    assert config["RECALLD_GRAPH_URI"] == "neo4j://neo4j:7687"
    assert config["RECALLD_VECTOR_URI"] == "http://milvus:19530"
    assert config["RECALLD_TRACING"] == "otlp"
    assert config["RECALLD_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = [rule["ports"][0]["port"] for rule in policy["spec"]["ingress"]]
    assert ports == ["grpc", "metrics"]
    assert policy["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"recalld-client": "true"}}}]


def test_chart_created_secret(helm: Helm) -> None:
    docs = render_case(helm, "external-tls-secrets")
    secret = one(docs, "Secret")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "graph-password": "pw",
        "llm-api-key": "sk",
    }
    env = env_by_name(docs)
    assert env["RECALLD_GRAPH_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "graph-password",
    }
    assert env["RECALLD_LLM_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "llm-api-key"
    assert "pw" not in config_data(docs).values()


# --- the pod: probes, ports, security, rollouts ----------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_native_grpc_probes(helm: Helm, case: str) -> None:
    docs = render_case(helm, case)
    c = container(docs)
    tls = "tls" in case
    port = port_of(docs, "health" if tls else "grpc")
    assert c["startupProbe"]["grpc"] == {"port": port, "service": "liveness"}
    assert c["livenessProbe"]["grpc"] == {"port": port, "service": "liveness"}
    assert c["readinessProbe"]["grpc"] == {"port": port, "service": "readiness"}
    # the models take ~10-20 s to load: the startup probe allows minutes, not seconds
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    listen = config_data(docs)["RECALLD_LISTEN"]
    assert listen == f"0.0.0.0:{port_of(docs, 'grpc')}"


def test_tls_values(helm: Helm) -> None:
    docs = render_case(helm, "tls")
    config = config_data(docs)
    assert config["RECALLD_TLS_CERT_FILE"] == "/etc/recalld/tls/tls.crt"
    assert config["RECALLD_TLS_KEY_FILE"] == "/etc/recalld/tls/tls.key"
    assert config["RECALLD_TLS_CLIENT_CA_FILE"] == "/etc/recalld/tls/ca.crt"
    assert config["RECALLD_HEALTH_LISTEN"] == "0.0.0.0:50052"
    assert port_of(docs, "health") == 50052
    [mount] = [m for m in container(docs)["volumeMounts"] if m["name"] == "tls"]
    assert mount == {"name": "tls", "mountPath": "/etc/recalld/tls", "readOnly": True}  # no subPath: rotation
    [volume] = [v for v in pod_spec(docs)["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == "recalld-tls"
    assert "items" not in volume["secret"]
    # without mutual TLS no client CA
    config = config_data(helm.render((CI["tls"],), ("tls.mutual=false",)))
    assert "RECALLD_TLS_CLIENT_CA_FILE" not in config and "RECALLD_TLS_CERT_FILE" in config


def test_plaintext_by_default(helm: Helm) -> None:
    config = config_data(render_case(helm, "default"))
    assert not {k for k in config if k.startswith("RECALLD_TLS_")}
    assert "RECALLD_HEALTH_LISTEN" not in config
    assert config["RECALLD_METRICS_LISTEN"] == "0.0.0.0:9464"
    assert config["RECALLD_LOG_FORMAT"] == "json"


# --- authentication and tenants ------------------------------------------------------------------


def mounts_by_path(docs: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container(docs)["volumeMounts"]}


def volume(docs: list[Manifest], name: str) -> dict[str, Any]:
    [found] = [v for v in pod_spec(docs)["volumes"] if v["name"] == name]
    return found


def mounted_source(docs: list[Manifest], file: str) -> tuple[dict[str, Any], str]:
    """The volume a file path in the container lives on (a directory mount, never subPath), and the
    key of that volume's ConfigMap/Secret it is."""
    directory, _, key = file.rpartition("/")
    mount = mounts_by_path(docs)[directory]
    assert "subPath" not in mount and "subPathExpr" not in mount  # so updates reach the pod
    assert mount["readOnly"] is True
    return volume(docs, mount["name"]), key


@pytest.mark.parametrize("case", CASES)
def test_recalld_accepts_the_rendered_settings(helm: Helm, case: str) -> None:
    """recalld's own loader parses every ConfigMap value (types, enums, per-tenant tables), and
    authentication is on in every pod unless the values turn it off."""
    docs = render_case(helm, case)
    settings = load_settings(config_data(docs))
    assert settings.auth_enabled is (case != "dev")
    assert settings.audit_log == "stderr"
    assert not [m for m in container(docs)["volumeMounts"] if "subPath" in m or "subPathExpr" in m]


@pytest.mark.parametrize("case", ["production", "tls", "embedded"])
def test_bootstrap_key_is_a_mounted_secret(helm: Helm, case: str) -> None:
    docs = render_case(helm, case)
    path = config_data(docs)["RECALLD_AUTH_BOOTSTRAP_KEY_FILE"]
    assert path == "/etc/recalld/auth/bootstrap/bootstrap-key"
    source, key = mounted_source(docs, path)
    assert source["secret"]["secretName"] == "recalld-bootstrap"
    assert key == "bootstrap-key"
    assert "items" not in source["secret"] and "optional" not in source["secret"]  # no pod without the key
    # the key itself is never in the ConfigMap or the environment
    assert not any("bootstrap" in e["name"].lower() for e in container(docs).get("env", []))


@pytest.mark.parametrize(
    ("case", "issuer", "kind", "name", "key"),
    [
        ("production", "https://idp.example.com/", "configMap", "idp-jwks", "jwks.json"),
        ("tls", "https://auth.internal.example", "secret", "auth-jwks", "keys.json"),
    ],
)
def test_jwks_files_are_mounted_where_recalld_looks(
    helm: Helm, case: str, issuer: str, kind: str, name: str, key: str
) -> None:
    docs = render_case(helm, case)
    settings = load_settings(config_data(docs))
    assert list(settings.auth.jwt_issuers) == [issuer]
    source, file_key = mounted_source(docs, settings.auth.jwt_issuers[issuer])
    assert file_key == key
    assert (source[kind].get("name") or source[kind].get("secretName")) == name
    assert "items" not in source[kind]


def test_several_jwt_issuers(helm: Helm) -> None:
    sets = (
        "auth.jwt.issuers[0].issuer=https://a.example/",
        "auth.jwt.issuers[0].configMap=a-jwks",
        "auth.jwt.issuers[1].issuer=b-issuer",
        "auth.jwt.issuers[1].secret=b-jwks",
        "auth.jwt.issuers[1].key=b.json",
        "auth.jwt.audience=memory",
        "auth.jwt.leewaySeconds=5",
    )
    docs = helm.render((), sets)
    config = config_data(docs)
    assert config["RECALLD_AUTH_JWT_ISSUERS"] == (
        "https://a.example/=/etc/recalld/auth/jwks/0/jwks.json,b-issuer=/etc/recalld/auth/jwks/1/b.json"
    )
    settings = load_settings(config)
    assert settings.auth.jwt_audience == "memory" and settings.auth.jwt_leeway_s == 5
    sources = {iss: mounted_source(docs, path) for iss, path in settings.auth.jwt_issuers.items()}
    assert sources["https://a.example/"][0]["configMap"]["name"] == "a-jwks"
    assert sources["b-issuer"] == (volume(docs, "jwks-1"), "b.json")
    assert sources["b-issuer"][0]["secret"]["secretName"] == "b-jwks"
    assert "RECALLD_AUTH_BOOTSTRAP_KEY_FILE" not in config  # no bootstrap Secret named


def test_auth_defaults(helm: Helm) -> None:
    docs = render_case(helm, "default")
    config = config_data(docs)
    assert config["RECALLD_AUTH"] == "auto"
    assert config["RECALLD_AUDIT_LOG"] == "stderr"
    assert not {k for k in config if k.startswith(("RECALLD_AUTH_", "RECALLD_TENANT_"))}
    assert "RECALLD_LIMITS_MAX_MEMORIES_PER_USER" not in config
    assert not [m for m in container(docs)["volumeMounts"] if m["mountPath"].startswith("/etc/recalld/auth")]


def test_auth_off_mounts_nothing(helm: Helm) -> None:
    docs = render_case(helm, "dev")
    config = config_data(docs)
    assert config["RECALLD_AUTH"] == "off"
    # configured credentials are not mounted while authentication is off (recalld would not read them)
    docs = helm.render((CI["production"],), ("auth.mode=off",))
    config = config_data(docs)
    assert config["RECALLD_AUTH"] == "off"
    assert not {k for k in config if k.startswith("RECALLD_AUTH_")}
    assert not {v["name"] for v in pod_spec(docs)["volumes"]} & {"auth-bootstrap", "jwks-0"}
    assert load_settings(config).auth_enabled is False


@pytest.mark.parametrize(("yaml_value", "expected"), [("on", "on"), ("off", "off"), ("true", "on"), ('"auto"', "auto")])
def test_auth_mode_as_bare_yaml(helm: Helm, tmp_path: Path, yaml_value: str, expected: str) -> None:
    """`mode: on` / `mode: off` unquoted are YAML booleans: the chart reads them as meant."""
    values = tmp_path / "v.yaml"
    values.write_text(f"auth:\n  mode: {yaml_value}\n")
    assert config_data(helm.render((values,)))["RECALLD_AUTH"] == expected


def test_tenant_limits(helm: Helm, tmp_path: Path) -> None:
    config = config_data(render_case(helm, "production"))
    assert config["RECALLD_TENANT_RATE"] == "50"
    assert config["RECALLD_TENANT_BURST"] == "100"
    assert config["RECALLD_TENANT_RATES"] == "acme=200,trial-co=5"
    assert config["RECALLD_TENANT_MAX_MEMORIES_PER_USER"] == "trial-co=1000"
    assert config["RECALLD_LIMITS_MAX_MEMORIES_PER_USER"] == "100000"
    assert config["RECALLD_AUTH_KEY_CACHE_S"] == "5"
    settings = load_settings(config)
    assert settings.tenant.rates == {"acme": "200", "trial-co": "5"}
    assert settings.limits.max_memories_per_user == 100000
    values = tmp_path / "v.yaml"
    values.write_text("tenants:\n  rates: {a: 0.5}\n  maxMemoriesPerUser: {b-2: 2000000}\n")
    config = config_data(helm.render((values,)))
    assert config["RECALLD_TENANT_RATES"] == "a=0.5"
    assert config["RECALLD_TENANT_MAX_MEMORIES_PER_USER"] == "b-2=2000000"  # not 2e+06
    assert load_settings(config).tenant.max_memories_per_user == {"b-2": "2000000"}


@pytest.mark.parametrize("case", CASES)
def test_security_context(helm: Helm, case: str) -> None:
    docs = render_case(helm, case)
    pod = pod_spec(docs)
    c = container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    # a read-only root needs a writable /tmp (HOME=/tmp in the image)
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    accounts = kinds(docs).get("ServiceAccount", [])
    if case == "embedded-ephemeral":
        assert not accounts and pod["serviceAccountName"] == "default"
    else:
        assert accounts[0]["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == accounts[0]["metadata"]["name"]
    requests = c["resources"]["requests"]
    assert requests["cpu"] and requests["memory"] and c["resources"]["limits"]["memory"]
    assert c["image"] == "localhost/recalld:0.1.0" and c["imagePullPolicy"] == "IfNotPresent"


def test_graceful_shutdown_fits_in_the_termination_grace_period(helm: Helm) -> None:
    docs = render_case(helm, "default")
    assert float(config_data(docs)["RECALLD_GRACE_PERIOD_S"]) == 20
    assert pod_spec(docs)["terminationGracePeriodSeconds"] == 30
    docs = helm.render((), ("gracePeriodSeconds=50", "terminationGracePeriodSeconds=60"))
    assert config_data(docs)["RECALLD_GRACE_PERIOD_S"] == "50"


def pod_annotations(docs: list[Manifest]) -> dict[str, str]:
    return workload(docs)["spec"]["template"]["metadata"]["annotations"]


def test_checksums_roll_the_pods_when_config_or_secret_change(helm: Helm) -> None:
    base = pod_annotations(helm.render((), EXTERNAL))
    config_changed = pod_annotations(helm.render((), (*EXTERNAL, "logging.level=DEBUG")))
    secret_changed = pod_annotations(helm.render((), (*EXTERNAL, "secrets.graphPassword=new")))
    assert config_changed["checksum/config"] != base["checksum/config"]
    assert config_changed["checksum/secret"] == base["checksum/secret"]
    assert secret_changed["checksum/secret"] != base["checksum/secret"]
    assert secret_changed["checksum/config"] == base["checksum/config"]
    assert pod_annotations(helm.render((), ("podAnnotations.team=memory",)))["team"] == "memory"


def test_service(helm: Helm) -> None:
    docs = render_case(helm, "default")
    [service] = [s for s in kinds(docs)["Service"] if s["spec"].get("clusterIP") != "None"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"]["appProtocol"] == "grpc" and ports["grpc"]["port"] == 50051
    assert ports["grpc"]["targetPort"] == "grpc"
    assert ports["metrics"]["port"] == 9464 and ports["metrics"]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == workload(docs)["spec"]["selector"]["matchLabels"]
    docs = render_case(helm, "embedded-ephemeral")
    assert all("metrics" not in {p["name"] for p in s["spec"]["ports"]} for s in kinds(docs)["Service"])
    assert "RECALLD_METRICS_LISTEN" not in config_data(docs)


def test_notes_show_how_to_call_it(helm: Helm) -> None:
    out = helm.run("install", "r", str(CHART), "--dry-run=client", "--namespace", "mem").stdout
    notes = out[out.index("NOTES:") :]
    assert "port-forward svc/r-recalld 50051:50051" in notes
    assert 'recalld --address localhost:50051 search --user alice "' in notes
    assert "grpc.health.v1.Health/Check" in notes
    out = helm.run("install", "r", str(CHART), "--dry-run=client", "--values", str(CI["tls"])).stdout
    notes = out[out.index("NOTES:") :]
    assert "-cert client.crt" in notes and "localhost:50052" in notes
    assert "recalld.v1.AdminService/CreateApiKey" in notes and "Bearer $BOOTSTRAP" in notes


def notes(helm: Helm, *args: str) -> str:
    out = helm.run("install", "r", str(CHART), "--dry-run=client", "--namespace", "mem", *args).stdout
    return out[out.index("NOTES:") :]


def test_notes_show_how_to_get_a_first_key(helm: Helm) -> None:
    text = notes(helm, "--values", str(CI["production"]))
    assert "Authentication is ON" in text
    assert "get secret recalld-bootstrap -o jsonpath='{.data.bootstrap-key}'" in text
    assert (
        'recalld --address localhost:50051 --api-key "$BOOTSTRAP" keys create --tenant acme --role admin --name ops'
        in text
    )
    assert "export RECALLD_API_KEY=" in text
    assert 'grpcurl -plaintext -H "authorization: Bearer $RECALLD_API_KEY"' in text
    assert "https://idp.example.com/" in text
    # no bootstrap key configured: how to make one
    text = notes(helm)
    assert "auth.mode=auto" in text
    assert "kubectl --namespace mem create secret generic recalld-bootstrap" in text
    assert "--from-literal=bootstrap-key=$(openssl rand -hex 32)" in text
    assert "--set auth.bootstrapKey.existingSecret=recalld-bootstrap" in text
    assert "WARNING" not in text


def test_notes_warn_when_auth_is_off(helm: Helm) -> None:
    text = notes(helm, "--values", str(CI["dev"]))
    assert "WARNING: authentication is OFF" in text
    assert "Authentication is ON" not in text and "keys create" not in text
