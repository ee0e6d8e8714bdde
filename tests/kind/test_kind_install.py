"""values/local.yaml installed on the kind cluster: the scheduler (a real one, with real kubelets)
places the GPU workloads on the GPU workers, within their advertised GPUs, and the CPU work off them.

The pods cannot run here (the training image is not loaded into the nodes and the GPUs are mocked),
so the install does not wait for readiness: placement is what this tier proves beyond the kwok one."""

from __future__ import annotations

import time
from typing import Any

from lfk8s.chart import values
from lfk8s.paths import ProjectPaths
from lfk8s.release import status
from lfk8s.release.install import install
from lfk8s.release.target import Target

GPU_COMPONENTS = ("training", "webui", "inference")


def placed(target: Target, components: set[str], timeout: float = 120) -> list[status.PodRow]:
    deadline = time.monotonic() + timeout
    while True:
        rows = status.pod_rows(target)
        if components <= {r.component for r in rows} and all(r.node for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"pods not all placed within {timeout:.0f}s: {rows}")
        time.sleep(2)


def test_local_values_place_gpu_pods_on_gpu_workers(target: Target, local_values: dict[str, Any],
                                                     paths: ProjectPaths) -> None:
    effective = values.with_chart_defaults(local_values, paths)
    install(target, local_values, timeout="2m", wait_for_jobs=False)
    rows = placed(target, set(GPU_COMPONENTS))
    by_component = {row.component: row for row in rows}
    for component in GPU_COMPONENTS:
        row = by_component[component]
        assert row.node_is_gpu, f"{component} landed on {row.node}"
        assert row.gpus == effective[component]["gpus"] >= 1
    for row in rows:
        if row.component not in GPU_COMPONENTS:
            assert not row.node_is_gpu and row.gpus == 0, row
