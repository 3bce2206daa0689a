"""The deployment in ``deploy/`` as users run it, checked offline (no docker engine, no cluster
here): every Kubernetes manifest against the API schemas of a pinned Kubernetes version
(``kubernetes-validate``, strict: unknown fields are errors), the settings the manifests hand
authz parsed by authz's own loader and matched against the manifests (ports, probes, mounts,
git-sync's link, Secrets), the security context of every container, and the image definition
(``dockerfile-parse``): stages, user, and an entrypoint the ``authz`` command line accepts.
``tests/integration/test_deploy_config.py`` runs the server on these settings."""

from __future__ import annotations

import copy
import io
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from authz import cli, cli_server
from authz.config import Settings, load_settings
from authz.server.servicers import SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
# Native sidecars (initContainers with restartPolicy: Always) are GA from 1.33.
KUBERNETES_VERSION = "1.33.0"
IMAGE_UID = 10001

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def kustomization() -> Doc:
    (doc,) = load_docs(K8S / "kustomization.yaml")
    return doc


def generated_configmaps() -> list[Doc]:
    """The ConfigMaps kustomize generates from ``configMapGenerator`` (without the hash suffix
    kustomize appends to the name and to every reference to it)."""
    out = []
    for gen in kustomization().get("configMapGenerator", []):
        data = {Path(f).name: (K8S / f).read_text(encoding="utf-8") for f in gen["files"]}
        meta = {"name": gen["name"]}
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return out


def resources() -> list[Doc]:
    docs = [d for f in kustomization()["resources"] for d in load_docs(K8S / f)]
    return docs + generated_configmaps()


def one(kind: str, name: str | None = None) -> Doc:
    found = [
        d
        for d in resources()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec() -> Doc:
    spec: Doc = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container(name: str) -> Doc:
    spec = pod_spec()
    for c in spec["containers"] + spec.get("initContainers", []):
        if c["name"] == name:
            return dict(c)
    raise AssertionError(f"no container `{name}`")


def all_containers() -> list[Doc]:
    spec = pod_spec()
    return list(spec["containers"]) + list(spec.get("initContainers", []))


def env(c: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def port_of(listen: str | None) -> int:
    assert listen is not None
    return int(listen.rpartition(":")[2])


def named_port(c: Doc, name: str) -> int:
    (port,) = [p["containerPort"] for p in c["ports"] if p["name"] == name]
    return int(port)


def settings() -> Settings:
    return load_settings(K8S / "authz.toml")


def mount(c: Doc, volume: str) -> Doc:
    (m,) = [m for m in c["volumeMounts"] if m["name"] == volume]
    return dict(m)


def volume(name: str) -> Doc:
    (v,) = [v for v in pod_spec()["volumes"] if v["name"] == name]
    return dict(v)


def volume_of(path: Path, c: Doc) -> tuple[Doc, Path]:
    """The mount of ``c`` holding ``path`` (deepest), and ``path`` relative to it."""
    best = max(
        (m for m in c["volumeMounts"] if path.is_relative_to(m["mountPath"])),
        key=lambda m: len(m["mountPath"]),
    )
    return best, path.relative_to(best["mountPath"])


# -- schema validation -----------------------------------------------------------------------


def test_kustomization_names_every_manifest_and_only_files_that_exist() -> None:
    k = kustomization()
    assert k["kind"] == "Kustomization"
    listed = set(k["resources"]) | {f for g in k["configMapGenerator"] for f in g["files"]}
    assert all((K8S / f).is_file() for f in listed), listed
    on_disk = {p.name for p in K8S.iterdir()} - {"kustomization.yaml", "secrets.example.yaml"}
    assert on_disk == listed  # nothing left out of the deployment, nothing stale
    (image,) = k["images"]
    assert container("authz")["image"].split(":")[0] == image["name"]


@pytest.mark.parametrize(
    "doc",
    [*resources(), *load_docs(K8S / "secrets.example.yaml")],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(doc: Doc) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return change


BREAKAGES = {
    "misspelled probe field": _set(
        "spec.template.spec.containers.0.readinessProbe.grpc", {"prot": 50051}
    ),
    "replicas as text": _set("spec.replicas", "three"),
    "env entry without a name": _set("spec.template.spec.containers.0.env", [{"value": "x"}]),
    "unknown securityContext field": _set(
        "spec.template.spec.containers.0.securityContext.readOnlyRootFS", True
    ),
    "no selector": lambda d: d["spec"].pop("selector"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_validator_refuses_a_broken_deployment(breakage: str) -> None:
    doc = copy.deepcopy(one("Deployment"))
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # intact: valid
    BREAKAGES[breakage](doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


# -- the settings and the manifests agree -----------------------------------------------------


def test_the_settings_parse_with_authz_config_loader_and_serve_the_pod() -> None:
    s = settings()
    assert s.listen.rpartition(":")[0] == "0.0.0.0"  # the default 127.0.0.1 is unreachable
    assert s.metrics_listen is not None and s.metrics_listen.startswith("0.0.0.0:")
    assert s.workers == 1 and not s.generate_keys
    assert s.watch and s.reload_trigger == "marker"  # the poller follows git-sync's flips
    state_url = getattr(s, "state_url", "")
    assert state_url.startswith("postgresql://")
    assert not re.search(r"//[^/@]*:[^/@]*@", state_url), "no password in the URL"
    assert "password" not in (K8S / "authz.toml").read_text(encoding="utf-8").split("#")[0]


def test_the_settings_loader_refuses_what_the_manifests_could_get_wrong(tmp_path: Path) -> None:
    """The check above can fail: the same loader refuses a typo in the deployed file."""
    broken = tmp_path / "authz.toml"
    text = (K8S / "authz.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace("reload_trigger", "reload_triger"), encoding="utf-8")
    with pytest.raises(Exception, match="unknown setting `reload_triger`"):
        load_settings(broken)


def test_probes_and_ports_match_the_server() -> None:
    s, authz = settings(), container("authz")
    grpc_port = port_of(s.listen)
    assert named_port(authz, "grpc") == grpc_port
    assert named_port(authz, "metrics") == port_of(s.metrics_listen)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = authz[kind]["grpc"]
        assert probe["port"] == grpc_port, kind
        # the health service reports "" (the server) and every API service
        assert probe.get("service", "") in ("", *SERVICE_NAMES), kind
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"] for p in authz["ports"]}
    for svc in (d for d in resources() if d["kind"] == "Service"):
        assert svc["spec"]["selector"].items() <= labels.items()
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    annotations = one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port_of(s.metrics_listen)


def test_the_container_runs_authz_serve_on_the_mounted_settings() -> None:
    authz = container("authz")
    args = cli.build_parser().parse_args(authz["args"])
    assert args.handler is cli_server._serve
    m, rel = volume_of(Path(args.config), authz)
    assert m["readOnly"] and volume(m["name"])["configMap"]["name"] == "authz-config"
    assert str(rel) in generated_configmaps()[0]["data"]


def test_the_repository_is_git_syncs_link_on_a_shared_volume() -> None:
    s, authz, sync = settings(), container("authz"), container("git-sync")
    e = env(sync)
    link = Path(e["GITSYNC_ROOT"]) / e["GITSYNC_LINK"]
    assert s.repo == link or s.repo.is_relative_to(link)  # the repository or a folder in it
    assert sync["restartPolicy"] == "Always"  # a sidecar, started (and synced) before authz
    assert sync["startupProbe"]["httpGet"]["port"] == "git-sync"
    assert port_of(e["GITSYNC_HTTP_BIND"]) == named_port(sync, "git-sync")
    assert int(e["GITSYNC_MAX_FAILURES"]) < 0  # a failed fetch keeps the last sync serving
    shared, _ = volume_of(s.repo, authz)
    assert shared["readOnly"] and "emptyDir" in volume(shared["name"])
    assert mount(sync, shared["name"])["mountPath"] == e["GITSYNC_ROOT"]
    assert "readOnly" not in mount(sync, shared["name"])


def test_keys_and_passwords_come_from_secrets_mounted_read_only() -> None:
    s, authz = settings(), container("authz")
    examples = {d["metadata"]["name"]: d for d in load_docs(K8S / "secrets.example.yaml")}
    keys, rel = volume_of(s.keys_dir, authz)
    assert rel == Path(".") and keys["readOnly"]
    assert volume(keys["name"])["secret"]["secretName"] in examples
    state_key = Path(getattr(s, "state_key_file", "/missing"))
    m, rel = volume_of(state_key, authz)
    secret = volume(m["name"])["secret"]
    assert m["readOnly"] and [i["path"] for i in secret["items"]] == [str(rel)]
    example = examples[secret["secretName"]]["stringData"]
    assert {i["key"] for i in secret["items"]} <= example.keys()
    ref = env(authz)["PGPASSWORD"]["secretKeyRef"]
    assert ref["key"] in examples[ref["name"]]["stringData"]
    for v in pod_spec()["volumes"]:
        if "secret" in v:
            assert v["secret"]["defaultMode"] & 0o007 == 0  # nobody but owner and fsGroup
    assert pod_spec()["securityContext"]["fsGroup"] == IMAGE_UID


def test_every_container_is_locked_down() -> None:
    spec = pod_spec()
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] > 0
    for c in all_containers():
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
        assert sc.get("runAsNonRoot", True), c["name"]
        name, _, tag = c["image"].rpartition(":")
        assert name and tag and tag != "latest", c["image"]
        writable = [m for m in c["volumeMounts"] if not m.get("readOnly")]
        assert all("emptyDir" in volume(m["name"]) for m in writable), c["name"]


def test_resources_are_requested_and_shutdown_fits_the_grace_period() -> None:
    s = settings()
    for c in all_containers():
        r = c["resources"]
        assert {"cpu", "memory"} <= r["requests"].keys() and "memory" in r["limits"], c["name"]
        assert "cpu" not in r["limits"], c["name"]  # throttling would show as p99
    authz = container("authz")["resources"]
    assert authz["requests"]["cpu"] == "1"  # one process, one core (the GIL)
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert grace > s.drain_seconds + s.shutdown_grace_seconds
    assert one("Deployment")["spec"]["replicas"] >= 2
    assert one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# -- the image --------------------------------------------------------------------------------


def dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO((DEPLOY / "Dockerfile").read_bytes()))


def stages(parser: DockerfileParser) -> Iterator[list[dict[str, Any]]]:
    stage: list[dict[str, Any]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM" and stage:
            yield stage
            stage = []
        stage.append(instruction)
    yield stage


def test_the_dockerfile_builds_in_stages_and_runs_unprivileged() -> None:
    parser = dockerfile()
    *builders, runtime = list(stages(parser))
    assert builders, "multi-stage: the build tools stay out of the runtime image"
    (user,) = [i["value"] for i in runtime if i["instruction"] == "USER"]
    uid, _, gid = user.partition(":")
    assert int(uid) == IMAGE_UID == pod_spec()["securityContext"]["runAsUser"]
    assert int(gid or uid) == pod_spec()["securityContext"]["runAsGroup"]
    last_user = max(n for n, i in enumerate(runtime) if i["instruction"] == "USER")
    assert all(i["instruction"] != "RUN" for i in runtime[last_user:])
    assert any(i["instruction"] == "COPY" and "--from=" in i["value"] for i in runtime)


def test_the_image_entrypoint_is_the_authz_command_serving_the_mounted_settings() -> None:
    runtime = list(stages(dockerfile()))[-1]
    found = {i["instruction"]: json.loads(i["value"]) for i in runtime if i["instruction"] in
             ("ENTRYPOINT", "CMD")}  # fmt: skip
    entrypoint, command = found["ENTRYPOINT"], found["CMD"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert entrypoint == ["authz"] and scripts["scripts"]["authz"] == "authz.cli:main"
    args = cli.build_parser().parse_args(command)
    assert args.handler is cli_server._serve
    assert command == container("authz")["args"]  # the pod runs the image's default command
    exposed = {int(p) for i in runtime if i["instruction"] == "EXPOSE" for p in i["value"].split()}
    assert {port_of(settings().listen), port_of(settings().metrics_listen)} <= exposed


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_secret() -> None:
    copied = [
        src
        for i in dockerfile().structure
        if i["instruction"] == "COPY" and "--from=" not in i["value"]
        for src in i["value"].split()[:-1]
    ]
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allowlist: everything is excluded first"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert {c.rstrip("/") for c in copied} <= allowed
    assert all((ROOT / a).exists() for a in allowed)
    assert not any(a.startswith((".authz-local", ".git", ".venv", "tests")) for a in allowed)
