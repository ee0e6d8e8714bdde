"""Training survives faults, for real: the chart's training pod (its init containers, then the
trainer), rendered for values/local.yaml with a longer tiny run (120 steps, a checkpoint every
10, at most 2 kept), run as containers of the built training image as in
test_rendered_commands.py. The trainer is killed (docker kill: SIGKILL, as a lost node or an
OOM kill) after its first checkpoint and the same rendered pod started again: it resumes and
ends at the step an uninterrupted run ends at, a new runName beside it starts at step 0, and a
checkpoint left half-written is set aside so the retry resumes from the newest complete one.
The init container check-mlflow fails in seconds, naming the URI, when MLflow cannot be reached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lfk8s import stack
from lfk8s.chart import rendering, values
from lfk8s.chart.helm import Helm
from lfk8s.chart.values import deep_merge
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.processes import free_port
from lfk8s.images import tiny_model
from lfk8s.paths import ProjectPaths
from lfk8s.testing import containers

SAVE_STEPS, LIMIT, TOTAL_STEPS = 10, 2, 120
# 32 samples, batch 1, gradient accumulation 8: 4 steps per epoch.
RUN = {"numTrainEpochs": 30, "saveSteps": SAVE_STEPS, "saveTotalLimit": LIMIT, "loggingSteps": 10}
TIMEOUT = 900
INIT = ("check-mlflow", "resume-checkpoints")


@dataclass
class PodRun:
    """One start of the training pod: its logs, the trainer's exit code, and the most
    checkpoint-* directories seen at once while it ran."""

    log: str = ""
    exit_code: int | None = None
    most_checkpoints: int = 0
    killed: bool = False
    seen: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, training_image: str, paths: ProjectPaths) -> Path:
    root = tmp_path_factory.mktemp("faults")
    tiny_model.prepare_storage(training_image, root / "storage", stack.pod_user(paths))
    return root


@pytest.fixture(scope="module")
def render_run(helm: Helm, paths: ProjectPaths, mlflow: MlflowServer) -> Iterator[object]:
    def _render(run_name: str, tracking_uri: str = mlflow.url) -> rendering.Rendered:
        data = deep_merge(values.load(paths.values_dir / "local.yaml"),
                          {"training": {**RUN, "runName": run_name}, "mlflow": {"trackingUri": tracking_uri}})
        return rendering.render(helm, paths, data)
    yield _render


def _output(root: Path, run_name: str) -> Path:
    return root / "storage" / "output" / "lora-adapter" / run_name


def _checkpoints(output: Path) -> list[int]:
    if not output.is_dir():
        return []
    return sorted(int(p.name.split("-")[1]) for p in output.glob("checkpoint-*") if p.name.split("-")[1].isdigit())


def _exit_code(name: str) -> int:
    result = subprocess.run(["docker", "inspect", "--format", "{{.State.ExitCode}}", name],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


def run_pod(rendered: rendering.Rendered, root: Path, run_name: str, kill_after_checkpoint: bool = False) -> PodRun:
    """The pod's init containers in order (each must succeed), then the trainer, watched every
    50 ms; with kill_after_checkpoint it is SIGKILLed once its first checkpoint is complete."""
    result, output = PodRun(), _output(root, run_name)
    for init in INIT:
        run = containers.container_run(rendered, "training", root, container=init)
        log = root / f"{run_name}-{init}.log"
        done = run.run(f"lfk8s-faults-{init}-{uuid.uuid4().hex[:6]}", log, 120)
        result.log += log.read_text()
        assert done.returncode == 0, f"{init} exited {done.returncode}:\n{log.read_text()}"
    name = f"lfk8s-faults-train-{uuid.uuid4().hex[:6]}"
    containers.container_run(rendered, "training", root).start(name)
    try:
        deadline = time.monotonic() + TIMEOUT
        while containers.running(name) and time.monotonic() < deadline:
            steps = _checkpoints(output)
            result.most_checkpoints = max(result.most_checkpoints, len(steps))
            result.seen = sorted(set(result.seen) | set(steps))
            if kill_after_checkpoint and any((output / f"checkpoint-{s}" / "trainer_state.json").is_file()
                                             for s in steps):
                subprocess.run(["docker", "kill", name], capture_output=True, check=True)
                result.killed = True
                break
            time.sleep(0.05)
        while containers.running(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        result.log += containers.logs(name)
        result.exit_code = _exit_code(name)
    finally:
        containers.remove(name)
    return result


def _final_step(root: Path, run_name: str) -> int:
    return int(json.loads((_output(root, run_name) / "trainer_state.json").read_text())["global_step"])


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-30:])


# ---------------------------------------------------------------- the runs, in order


@pytest.fixture(scope="module")
def killed(render_run: object, root: Path) -> PodRun:
    run = run_pod(render_run("interrupted"), root, "interrupted", kill_after_checkpoint=True)  # type: ignore[operator]
    assert run.killed and run.exit_code == 137, _tail(run.log)
    assert not (_output(root, "interrupted") / "adapter_model.safetensors").exists(), "killed after it finished"
    return run


@pytest.fixture(scope="module")
def steady(render_run: object, root: Path, killed: PodRun) -> PodRun:
    """An uninterrupted run, started beside the killed run's checkpoints under another runName."""
    run = run_pod(render_run("steady"), root, "steady")  # type: ignore[operator]
    assert run.exit_code == 0, _tail(run.log)
    return run


@pytest.fixture(scope="module")
def resumed(render_run: object, root: Path, killed: PodRun, steady: PodRun) -> PodRun:
    run = run_pod(render_run("interrupted"), root, "interrupted")  # type: ignore[operator]
    assert run.exit_code == 0, _tail(run.log)
    return run


def test_an_uninterrupted_run_keeps_at_most_the_limit(steady: PodRun, root: Path) -> None:
    """The trainer writes a new checkpoint before deleting the oldest: LIMIT + 1 at most, LIMIT at rest."""
    assert _final_step(root, "steady") == TOTAL_STEPS
    assert steady.seen[-1] >= TOTAL_STEPS - SAVE_STEPS and len(steady.seen) > LIMIT + 1, steady.seen
    assert steady.most_checkpoints <= LIMIT + 1
    assert _checkpoints(_output(root, "steady")) == [TOTAL_STEPS - SAVE_STEPS, TOTAL_STEPS]


def test_a_new_run_name_starts_at_step_0(steady: PodRun) -> None:
    assert "/storage/output/lora-adapter/steady does not exist yet: the run starts at step 0" in steady.log
    assert "Resuming training from" not in steady.log


def test_a_killed_run_resumes_and_ends_where_an_uninterrupted_one_ends(resumed: PodRun, killed: PodRun,
                                                                        root: Path) -> None:
    first = min(killed.seen)
    assert "the run resumes from /storage/output/lora-adapter/interrupted/checkpoint-" in resumed.log
    assert "Resuming training from /storage/output/lora-adapter/interrupted/checkpoint-" in resumed.log
    assert first >= SAVE_STEPS
    assert _final_step(root, "interrupted") == _final_step(root, "steady") == TOTAL_STEPS
    assert max(killed.most_checkpoints, resumed.most_checkpoints) <= LIMIT + 1
    assert len(_checkpoints(_output(root, "interrupted"))) == LIMIT


def test_a_half_written_newest_checkpoint_is_set_aside(render_run: object, root: Path, resumed: PodRun,
                                                       paths: ProjectPaths) -> None:
    """As a kill while saving leaves it: checkpoint-N+10 with weights but no trainer_state.json."""
    killed = run_pod(render_run("partial"), root, "partial", kill_after_checkpoint=True)  # type: ignore[operator]
    assert killed.killed, _tail(killed.log)
    output = _output(root, "partial")
    newest = _checkpoints(output)[-1]
    partial = output / f"checkpoint-{newest + SAVE_STEPS}"
    shutil.copytree(output / f"checkpoint-{newest}", partial)
    (partial / "trainer_state.json").unlink()
    uid = stack.pod_user(paths)
    for path in (partial, *partial.rglob("*")):
        shutil.chown(path, uid, uid)
    run = run_pod(render_run("partial"), root, "partial")  # type: ignore[operator]
    assert run.exit_code == 0, _tail(run.log)
    assert f"checkpoint-{newest + SAVE_STEPS} has no readable trainer_state.json" in run.log
    assert f"Resuming training from /storage/output/lora-adapter/partial/checkpoint-{newest}" in run.log
    (aside,) = output.glob(f"incomplete-checkpoint-{newest + SAVE_STEPS}-*")
    assert (aside / "adapter_model.safetensors").stat().st_size > 0, "set aside, not deleted"
    assert _final_step(root, "partial") == TOTAL_STEPS


def test_unreachable_mlflow_fails_in_seconds_naming_the_uri(render_run: object, root: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    run = containers.container_run(render_run("no-mlflow", uri), "training", root,  # type: ignore[operator]
                                   container="check-mlflow")
    log, started = root / "no-mlflow.log", time.monotonic()
    result = run.run(f"lfk8s-faults-mlflow-{uuid.uuid4().hex[:6]}", log, 120)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, log.read_text()
    assert f"check-mlflow: MLflow at {uri} cannot be reached:" in log.read_text()
    assert "Connection refused" in log.read_text()
    assert elapsed < 30, f"took {elapsed:.0f} s"


def test_reachable_mlflow_passes(render_run: object, root: Path, mlflow: MlflowServer) -> None:
    run = containers.container_run(render_run("with-mlflow"), "training", root,  # type: ignore[operator]
                                   container="check-mlflow")
    log = root / "with-mlflow.log"
    assert run.run(f"lfk8s-faults-mlflow-{uuid.uuid4().hex[:6]}", log, 120).returncode == 0, log.read_text()
    assert f"check-mlflow: MLflow at {mlflow.url} answers (HTTP 200)" in log.read_text()
