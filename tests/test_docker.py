"""The image and deployment files, checked as text (CI has no Docker engine or cluster)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

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


def test_runtime_stage_is_slim_non_root_and_runs_the_console_script() -> None:
    """The final stage: slim Python base, a non-root USER before ENTRYPOINT ["vox-dispatch"]."""
    final = _stages()[-1]
    base = final[0][1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: _args()[m.group(1)], base)
    assert re.fullmatch(r"python:3\.1[1-9][\w.-]*-slim[\w.-]*", base)
    keywords = [keyword for keyword, _ in final]
    user = final[keywords.index("USER")][1]
    assert user.split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert final[keywords.index("ENTRYPOINT")][1] == '["vox-dispatch"]'
    assert any(k == "VOLUME" and "/data" in rest for k, rest in final)


def test_the_package_is_installed_from_the_repository() -> None:
    """``pip install .`` of the copied source, not of a name from a package index."""
    runs = [rest for k, rest in _instructions(DOCKERFILE.read_text()) if k == "RUN"]
    installs = [m.group(1) for r in runs for m in re.finditer(r"pip install (\S+)", r)]
    assert "." in installs
    assert all(target.strip("'\"").startswith(".") for target in installs)
    copies = [rest for k, rest in _instructions(DOCKERFILE.read_text()) if k == "COPY"]
    assert any("dispatcher" in copy for copy in copies)


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
    test_runs = " ".join(rest for k, rest in stages["test"] if k == "RUN")
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


def test_systemd_units() -> None:
    """A oneshot templated service and its timer; the key comes from LoadCredential."""
    service = (DEPLOY / "systemd" / "vox-dispatch@.service").read_text()
    timer = (DEPLOY / "systemd" / "vox-dispatch@.timer").read_text()
    assert "Type=oneshot" in service
    assert "ExecStart=/opt/vox-dispatch/bin/vox-dispatch run" in service
    assert "LoadCredential=" in service
    assert "Environment=VOXIMPLANT_CREDENTIALS=%d/" in service
    assert "User=vox" in service
    assert "OnCalendar=" in timer
    assert "WantedBy=timers.target" in timer


def _cronjob_documents() -> list[dict[str, Any]]:
    import yaml  # noqa: PLC0415 - optional: only when PyYAML is installed

    text = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.skipif(importlib.util.find_spec("yaml") is None, reason="PyYAML not installed")
def test_kubernetes_cronjob_parsed() -> None:
    """Parsed: Forbid, credentials from a Secret via VOXIMPLANT_CREDENTIALS, /data on a PVC."""
    documents = {doc["kind"]: doc for doc in _cronjob_documents()}
    spec = documents["CronJob"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
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
