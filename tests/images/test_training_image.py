"""The training image, built here from images/training with a real container engine, run as the
chart runs it: uid 10001, read-only root filesystem, all capabilities dropped, no privilege
escalation, /tmp the only writable path. CUDA is absent: the software imports and its CLI answers."""

from __future__ import annotations

import json
import re
import subprocess

from lfk8s.images import build
from lfk8s.paths import ProjectPaths

# How the chart starts every container of this image (charts/llama-factory: podSecurityContext
# and the container securityContext), less the volumes: a tmpfs stands in for the /tmp emptyDir.
AS_THE_CHART_RUNS_IT = ["--user", "10001:10001", "--read-only", "--cap-drop", "ALL",
                        "--security-opt", "no-new-privileges", "--network", "none",
                        "--tmpfs", "/tmp:rw,mode=1777"]


def run(image: str, *command: str, entrypoint: str | None = None) -> subprocess.CompletedProcess[str]:
    args = ["docker", "run", "--rm", *AS_THE_CHART_RUNS_IT]
    args += ["--entrypoint", entrypoint] if entrypoint else []
    return subprocess.run([*args, image, *command], capture_output=True, text=True, timeout=300)


def inspect(image: str) -> dict[str, object]:
    result = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True)
    data: dict[str, object] = json.loads(result.stdout)[0]
    return data


def test_entrypoint_answers(training_image: str) -> None:
    result = run(training_image)  # the image's CMD: `llamafactory-cli version`
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LLaMA Factory, version 0.9.5" in result.stdout


def test_pip_check_passes(training_image: str) -> None:
    result = run(training_image, "check", entrypoint="pip")
    assert result.returncode == 0 and "No broken requirements found." in result.stdout, result.stdout + result.stderr


def test_runs_as_10001_with_only_tmp_writable(training_image: str) -> None:
    script = "id -u; id -g; touch /opt/venv/x 2>/dev/null || echo root-read-only; touch /tmp/x && echo tmp-writable"
    result = run(training_image, "-c", script, entrypoint="sh")
    assert result.stdout.split() == ["10001", "10001", "root-read-only", "tmp-writable"], result.stderr


def test_software_imports_without_cuda(training_image: str) -> None:
    code = ("import llamafactory, transformers, peft, trl, torch, deepspeed, bitsandbytes, mlflow, gradio; "
            "print(llamafactory.__version__, transformers.__version__, torch.cuda.is_available())")
    result = run(training_image, "-c", code, entrypoint="python")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["0.9.5", "4.57.1", "False"]


def test_help_names_every_subcommand_the_chart_runs(training_image: str) -> None:
    result = run(training_image, "help", entrypoint="llamafactory-cli")
    assert result.returncode == 0, result.stderr
    for subcommand in ("train", "export", "api", "webui"):
        assert f"llamafactory-cli {subcommand}" in result.stdout, result.stdout


def test_build_ca_never_reaches_the_final_image(training_image: str) -> None:
    """The proxy CA given to the builder stage is in no file of the final image and not in its
    configuration or history."""
    config = json.dumps(inspect(training_image))
    history = subprocess.run(["docker", "history", "--no-trunc", training_image], capture_output=True, text=True,
                             check=True).stdout
    assert build.CA_BUNDLE_ARG not in config and build.CA_BUNDLE_ARG not in history
    bodies = [re.sub(r"\s", "", body)[:64] for body in
              re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", build.local_ca_bundle(), re.S)]
    script = ("find / -xdev -name 'build-ca.pem' 2>/dev/null; "
              "cat /etc/ssl/certs/ca-certificates.crt $(python -c 'import certifi; print(certifi.where())') "
              "| tr -d '\\n'")
    result = run(training_image, "-c", script, entrypoint="sh")
    assert result.returncode == 0, result.stderr
    assert "build-ca.pem" not in result.stdout
    assert "-----BEGIN CERTIFICATE-----" in result.stdout, "the image's own trust stores were read"
    for body in bodies:
        assert body not in result.stdout


def test_second_build_is_all_cache(paths: ProjectPaths, training_image: str) -> None:
    before = inspect(training_image)["Id"]
    build.build(paths, ["training"])
    assert inspect(training_image)["Id"] == before
