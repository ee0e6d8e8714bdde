"""Training that survives faults without filling the storage, on rendered manifests and on the
chart's own init scripts: checkpoints bounded (save_total_limit, EasyR1's save_limit), the Job's
podFailurePolicy (disruptions ignored, configuration errors fail at once), the init containers,
resume_checkpoints.py setting incomplete checkpoints aside, and check_mlflow.py against a real
local HTTP server answering as MLflow, refusing, or absent."""

from __future__ import annotations

import http.server
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lfk8s.cluster.processes import free_port
from lfk8s.paths import ProjectPaths
from tests.conftest import RenderFn
from tests.helpers import MLFLOW, config_file, easyr1, pod_spec, training, training_job


def _script(paths: ProjectPaths, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, paths.chart / "files" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _init_names(rendered: Any) -> list[str]:
    return [c["name"] for c in pod_spec(training_job(rendered)).get("initContainers") or []]


# ---------------------------------------------------------------- bounded checkpoints


def test_checkpoints_are_bounded_by_default(render: RenderFn) -> None:
    assert config_file(render(training()), "train.yaml")["save_total_limit"] == 3


def test_save_total_limit_follows_the_value_and_null_is_unlimited(render: RenderFn) -> None:
    assert config_file(render(training(saveTotalLimit=1)), "train.yaml")["save_total_limit"] == 1
    assert "save_total_limit" not in config_file(render(training(saveTotalLimit=None)), "train.yaml")


@pytest.mark.parametrize(("limit", "expected"), [(2, 2), (None, -1)])
def test_easyr1_save_limit(render: RenderFn, limit: int | None, expected: int) -> None:
    trainer = config_file(render(easyr1("grpo", saveTotalLimit=limit)), "easyr1.yaml")["trainer"]
    assert trainer["save_limit"] == expected


# ---------------------------------------------------------------- failure policy


def test_disruptions_are_ignored_and_configuration_errors_fail_the_job(render: RenderFn) -> None:
    job = training_job(render(training()))
    assert job["spec"]["backoffLimit"] == 2
    assert pod_spec(job)["restartPolicy"] == "Never"
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert rules[1] == {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [2, 126, 127]}}


# ---------------------------------------------------------------- init containers


def test_training_pod_checks_mlflow_then_checkpoints(render: RenderFn) -> None:
    rendered = render(training(reportTo="mlflow"))
    assert _init_names(rendered) == ["check-mlflow", "resume-checkpoints"]
    check, resume = pod_spec(training_job(rendered))["initContainers"]
    assert check["command"] == ["python3", "/etc/llama-factory/check_mlflow.py"]
    assert [m["name"] for m in check["volumeMounts"]] == ["config"]
    assert resume["command"] == ["python3", "/etc/llama-factory/resume_checkpoints.py", "$(LORA_OUTPUT_PATH)"]
    assert {m["name"]: m.get("readOnly", False) for m in resume["volumeMounts"]} == {"storage": False, "config": True}


def test_no_mlflow_check_without_mlflow_and_no_checkpoint_step_for_easyr1(render: RenderFn) -> None:
    assert _init_names(render(training(reportTo="none"))) == ["resume-checkpoints"]
    assert _init_names(render({**easyr1("grpo", reportTo="mlflow"), "mlflow": MLFLOW})) == ["check-mlflow"]


def test_a_changed_script_is_a_new_run(render: RenderFn, paths: ProjectPaths) -> None:
    """The scripts are in the Job's config checksum, so the Job's name changes with them."""
    annotations = training_job(render(training()))["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"]
    data = render(training()).get("ConfigMap", component="config")["data"]
    assert data["resume_checkpoints.py"] == (paths.chart / "files" / "resume_checkpoints.py").read_text()
    assert data["check_mlflow.py"] == (paths.chart / "files" / "check_mlflow.py").read_text()


# ---------------------------------------------------------------- resume_checkpoints.py


def _checkpoint(output: Path, step: int, state: str | None) -> Path:
    path = output / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    return path


def test_incomplete_checkpoints_are_set_aside_not_deleted(paths: ProjectPaths, tmp_path: Path) -> None:
    resume = _script(paths, "resume_checkpoints")
    _checkpoint(tmp_path, 20, json.dumps({"global_step": 20}))
    _checkpoint(tmp_path, 40, None)
    _checkpoint(tmp_path, 60, '{"global_st')  # killed while writing the state itself
    lines = resume.set_aside(tmp_path, 1700000000.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-20", "incomplete-checkpoint-40-1700000000", "incomplete-checkpoint-60-1700000000"]
    assert (tmp_path / "incomplete-checkpoint-40-1700000000" / "adapter_model.safetensors").read_bytes() == b"weights"
    assert lines[-1] == f"the run resumes from {tmp_path / 'checkpoint-20'}"
    assert any("checkpoint-60 has no readable trainer_state.json" in line and "not deleted" in line for line in lines)


def test_complete_checkpoints_are_left_alone(paths: ProjectPaths, tmp_path: Path) -> None:
    resume = _script(paths, "resume_checkpoints")
    for step in (10, 20):
        _checkpoint(tmp_path, step, json.dumps({"global_step": step}))
    assert resume.set_aside(tmp_path, 0.0) == [f"the run resumes from {tmp_path / 'checkpoint-20'}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-20"]


def test_a_new_run_has_nothing_to_resume(paths: ProjectPaths, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    resume = _script(paths, "resume_checkpoints")
    assert resume.main(["resume_checkpoints.py", str(tmp_path / "run-2")]) == 0
    assert "does not exist yet: the run starts at step 0" in capsys.readouterr().out
    assert resume.main(["resume_checkpoints.py"]) == 2


# ---------------------------------------------------------------- check_mlflow.py


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b'{"experiments": []}'
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Answer", (_Answer,), {"seen": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()


def test_mlflow_answering(paths: ProjectPaths, server: tuple[str, type[_Answer]]) -> None:
    check = _script(paths, "check_mlflow")
    url, handler = server
    code, message = check.check({"MLFLOW_TRACKING_URI": url + "/", "MLFLOW_TRACKING_TOKEN": "t0k"})
    assert (code, message) == (0, f"MLflow at {url}/ answers (HTTP 200)")
    assert handler.seen == [("/api/2.0/mlflow/experiments/search?max_results=1", "Bearer t0k")]


def test_mlflow_refusing_is_a_configuration_error(paths: ProjectPaths, server: tuple[str, type[_Answer]]) -> None:
    check = _script(paths, "check_mlflow")
    url, handler = server
    handler.status, handler.body = 403, b"Invalid Host header"
    code, message = check.check({"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": "u"})
    assert code == 2 and "HTTP 403" in message and "Invalid Host header" in message and url in message
    assert handler.seen[0][1] == "Basic dTo="


def test_mlflow_unreachable_fails_in_seconds(paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    check = _script(paths, "check_mlflow")
    monkeypatch.setattr(check, "PAUSE_S", 0.0)
    url = f"http://127.0.0.1:{free_port()}"
    code, message = check.check({"MLFLOW_TRACKING_URI": url})
    assert code == 1 and message.startswith(f"MLflow at {url} cannot be reached:") and "refused" in message


@pytest.mark.parametrize(("uri", "code"), [("", 2), ("http://", 2), ("file:///tmp/mlruns", 0), ("databricks", 0)])
def test_mlflow_uri_shapes(paths: ProjectPaths, uri: str, code: int) -> None:
    assert _script(paths, "check_mlflow").check({"MLFLOW_TRACKING_URI": uri})[0] == code
