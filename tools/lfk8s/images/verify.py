"""What a built image must show when started as the chart starts its containers: the chart's uid
with a read-only root filesystem, every capability dropped, no privilege escalation, no network and
/tmp the only writable path (a tmpfs standing in for the chart's emptyDir). CUDA is absent, so the
software is proved by importing it at the lock's versions and by its CLI's `--help`, not by serving.
`images verify` and tests/images run these same checks."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass

from lfk8s.chart.defaults import default
from lfk8s.images import build
from lfk8s.images.model import Image, chart_image
from lfk8s.images.pins import ImageError, canonical, parse_pins
from lfk8s.paths import ProjectPaths


@dataclass(frozen=True)
class Probe:
    """What one image is checked for. `imports` are modules that must import; `versions` are
    distributions whose installed version must be the lock's; `cli` is run through the image's
    ENTRYPOINT and its output must name every one of `cli_names` (flags or subcommands the chart uses).
    Where the CLI cannot start without a GPU, `cli_code` (Python, run in the image) prints the names
    instead, from the same definitions the CLI's parser is built from."""

    imports: tuple[str, ...]
    versions: tuple[str, ...]
    cli: tuple[str, ...]
    cli_names: tuple[str, ...]
    cli_code: str = ""


PROBES: dict[str, Probe] = {
    "training": Probe(
        imports=("llamafactory", "transformers", "peft", "trl", "torch", "deepspeed", "bitsandbytes", "mlflow",
                 "gradio"),
        versions=("llamafactory", "transformers", "torch", "peft"),
        cli=("help",),
        cli_names=("llamafactory-cli train", "llamafactory-cli export", "llamafactory-cli api",
                   "llamafactory-cli webui")),
    "vllm": Probe(
        imports=("vllm", "vllm.entrypoints.openai.api_server", "torch", "transformers"),
        versions=("vllm", "torch", "transformers"),
        # `vllm serve --help` builds its parser from a VllmConfig, whose device config raises
        # "Failed to infer device type" without a GPU: read the flags from EngineArgs, which the
        # parser is made of, and prove the `vllm` entrypoint is on PATH.
        cli=("--help",),
        cli_names=("--served-model-name", "--tensor-parallel-size", "--max-model-len", "--gpu-memory-utilization",
                   "--enable-lora"),
        cli_code=("import dataclasses, shutil; from vllm.engine.arg_utils import EngineArgs\n"
                  "assert shutil.which('vllm'), 'no vllm on PATH'\n"
                  "print(' '.join('--' + f.name.replace('_', '-') for f in dataclasses.fields(EngineArgs)))")),
    "sglang": Probe(
        imports=("sglang", "sglang.srt.server_args", "torch", "transformers"),
        versions=("sglang", "torch", "transformers"),
        cli=("--help",),
        cli_names=("--model-path", "--served-model-name", "--tp-size", "--mem-fraction-static")),
    "easyr1": Probe(
        imports=("verl", "verl.trainer.main", "vllm", "torch", "flash_attn"),
        versions=("verl", "vllm", "torch"),
        cli=(),
        cli_names=()),
}


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    detail: str


def chart_run_flags(paths: ProjectPaths) -> list[str]:
    """`docker run` flags for the chart's podSecurityContext and container securityContext."""
    uid = int(default(paths, "podSecurityContext.runAsUser"))
    gid = int(default(paths, "podSecurityContext.runAsGroup"))
    return ["--user", f"{uid}:{gid}", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--network", "none", "--tmpfs", "/tmp:rw,mode=1777"]


def run_in_image(paths: ProjectPaths, reference: str, *command: str, entrypoint: str | None = None,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
    args = ["docker", "run", "--rm", *chart_run_flags(paths)]
    args += ["--entrypoint", entrypoint] if entrypoint is not None else []
    return subprocess.run([*args, reference, *command], capture_output=True, text=True, timeout=timeout)


def _output(result: subprocess.CompletedProcess[str], tail: int = 3000) -> str:
    return (result.stdout + result.stderr)[-tail:]


def check_user_and_filesystem(paths: ProjectPaths, reference: str) -> CheckResult:
    uid, gid = (str(default(paths, f"podSecurityContext.runAs{key}")) for key in ("User", "Group"))
    script = "id -u; id -g; touch /opt/venv/x 2>/dev/null || echo root-read-only; touch /tmp/x && echo tmp-writable"
    result = run_in_image(paths, reference, "-c", script, entrypoint="sh")
    want = [uid, gid, "root-read-only", "tmp-writable"]
    return CheckResult("uid and read-only root", result.stdout.split() == want,
                       f"wanted {want}, got {result.stdout.split()} {result.stderr[-500:]}")


def check_pip(paths: ProjectPaths, reference: str) -> CheckResult:
    result = run_in_image(paths, reference, "check", entrypoint="pip")
    return CheckResult("pip check", result.returncode == 0 and "No broken requirements found." in result.stdout,
                       _output(result))


def check_imports(paths: ProjectPaths, image: Image, reference: str, probe: Probe) -> CheckResult:
    """The modules import with CUDA absent, at the versions the lock pins."""
    code = ("import importlib, json, importlib.metadata as m; import torch\n"
            f"[importlib.import_module(x) for x in {list(probe.imports)!r}]\n"
            f"print(json.dumps({{'cuda': torch.cuda.is_available(), "
            f"'versions': {{d: m.version(d) for d in {list(probe.versions)!r}}}}}))")
    result = run_in_image(paths, reference, "-c", code, entrypoint="python")
    if result.returncode != 0:
        return CheckResult("imports", False, _output(result))
    report = json.loads(result.stdout.strip().splitlines()[-1])
    locked = parse_pins(image.requirements_lock.read_text())
    wanted = {name: locked.get(canonical(name)) for name in probe.versions}
    found = {name: report["versions"][name].split("+")[0] for name in probe.versions}
    passed = found == wanted and report["cuda"] is False
    return CheckResult("imports", passed, f"versions {found} (lock {wanted}), cuda available: {report['cuda']}")


def check_cli(paths: ProjectPaths, reference: str, probe: Probe) -> CheckResult:
    """The image's ENTRYPOINT answers and names what the chart passes it."""
    if probe.cli_code:
        result = run_in_image(paths, reference, "-c", probe.cli_code, entrypoint="python")
    else:
        result = run_in_image(paths, reference, *probe.cli)
    missing = [name for name in probe.cli_names if name not in result.stdout]
    name = "CLI flags (from its parser's definitions)" if probe.cli_code else f"entrypoint {' '.join(probe.cli)}"
    return CheckResult(name, result.returncode == 0 and not missing,
                       f"missing {missing}; " + _output(result, 1500) if missing or result.returncode
                       else f"names {len(probe.cli_names)} of what the chart uses")


def check_build_ca_absent(paths: ProjectPaths, reference: str) -> CheckResult:
    """The proxy CA given to the builder stage is in no file of the final image, nor in its
    configuration or history."""
    config = subprocess.run(["docker", "image", "inspect", reference], capture_output=True, text=True,
                            check=True).stdout
    history = subprocess.run(["docker", "history", "--no-trunc", reference], capture_output=True, text=True,
                             check=True).stdout
    if build.CA_BUNDLE_ARG in config or build.CA_BUNDLE_ARG in history:
        return CheckResult("build CA absent", False, f"{build.CA_BUNDLE_ARG} is in the image's config or history")
    bodies = [re.sub(r"\s", "", body)[:64] for body in
              re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", build.local_ca_bundle(), re.S)]
    script = ("find / -xdev -name 'build-ca.pem' 2>/dev/null; "
              "cat /etc/ssl/certs/ca-certificates.crt $(python -c 'import certifi; print(certifi.where())') "
              "| tr -d '\\n'")
    result = run_in_image(paths, reference, "-c", script, entrypoint="sh")
    if result.returncode != 0 or "-----BEGIN CERTIFICATE-----" not in result.stdout:
        return CheckResult("build CA absent", False, "the image's own trust stores could not be read: "
                           + _output(result, 500))
    leaked = "build-ca.pem" in result.stdout or any(body in result.stdout for body in bodies)
    return CheckResult("build CA absent", not leaked,
                       f"{len(bodies)} machine-added certificate(s) looked for" + (": found" if leaked else ""))


def verify(paths: ProjectPaths, image: Image) -> list[CheckResult]:
    """Every check of one built image (tagged as the chart's values.yaml names it)."""
    probe = PROBES.get(image.name)
    if probe is None:
        raise ImageError(f"no probe for images/{image.name}: add one to lfk8s.images.verify.PROBES")
    reference = chart_image(paths, image.name).reference()
    results = [check_user_and_filesystem(paths, reference), check_pip(paths, reference),
               check_imports(paths, image, reference, probe)]
    if probe.cli:
        results.append(check_cli(paths, reference, probe))
    results.append(check_build_ca_absent(paths, reference))
    return results
