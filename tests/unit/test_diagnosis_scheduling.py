"""Pods the scheduler cannot place, explained from the nodes: selectors, taints, sizes."""

from __future__ import annotations

from kubernetes import client

from lfk8s.release.diagnosis.scheduling import scheduling_problems, tolerates
from tests.unit.diagnosis_objects import event, node, observed, pod

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
NODES = [node("gpu-0", {"nvidia.com/gpu": "true"}, [GPU_TAINT], **{"nvidia.com/gpu": "8"}),
         node("gpu-1", {"nvidia.com/gpu": "true"}, [GPU_TAINT], **{"nvidia.com/gpu": "8"}),
         node("cpu-0", {"pool": "cpu"})]
SCHEDULER = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def gpu_pod(gpus: int, **spec: object) -> object:
    containers = [{"name": "engine", "image": "vllm:1", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]
    return pod("inference-0", "inference", containers=containers, unschedulable=SCHEDULER,
               **{"nodeSelector": {"nvidia.com/gpu": "true"}, "tolerations": [GPU_TOLERATION], **spec})


def test_more_gpus_than_any_node_has_is_definitive() -> None:
    (problem,) = scheduling_problems(observed(pods=[gpu_pod(16)], nodes=NODES), set())
    assert problem.definitive and problem.cause == "TooBig"
    assert "asks for 16 nvidia.com/gpu but the largest GPU node has 8" in problem.sentence
    assert "lower inference's `gpus`" in problem.sentence and SCHEDULER in problem.sentence


def test_memory_is_compared_with_the_nodes_the_pod_may_use_only() -> None:
    containers = [{"name": "main", "image": "x", "resources": {"requests": {"memory": "300Gi"}}}]
    big = pod("webui-0", "webui", containers=containers, unschedulable=SCHEDULER, nodeSelector={"pool": "cpu"})
    (problem,) = scheduling_problems(observed(pods=[big], nodes=NODES), set())
    assert problem.definitive and "asks for 300Gi memory but the largest node it may use has 256Gi" in problem.sentence


def test_a_selector_no_node_matches_names_the_label_and_what_nodes_have() -> None:
    stuck = gpu_pod(1, nodeSelector={"nvidia.com/gpu": "true", "pool": "h100"})
    (problem,) = scheduling_problems(observed(pods=[stuck], nodes=NODES), set())
    assert problem.definitive and problem.cause == "NodeSelector"
    assert "no node has the label pool=h100 of its nodeSelector (nodes have pool=cpu)" in problem.sentence
    missing = gpu_pod(1, nodeSelector={"disk": "ssd"})
    (problem,) = scheduling_problems(observed(pods=[missing], nodes=NODES), set())
    assert "(no node has the label disk)" in problem.sentence


def test_an_untolerated_taint_on_every_matching_node_names_taint_and_nodes() -> None:
    (problem,) = scheduling_problems(observed(pods=[gpu_pod(1, tolerations=[])], nodes=NODES), set())
    assert problem.definitive and problem.cause == "Taint"
    assert "nvidia.com/gpu=present:NoSchedule (on gpu-0, gpu-1)" in problem.sentence
    assert "inference's tolerations" in problem.sentence


def test_required_node_affinity_no_matching_node_satisfies() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["H100"]}]}]}}}
    (problem,) = scheduling_problems(observed(pods=[gpu_pod(1, affinity=affinity)], nodes=NODES), set())
    assert problem.definitive and problem.cause == "NodeAffinity"


def test_passing_taints_and_full_nodes_are_given_patience_with_the_scheduler_words() -> None:
    not_ready = [node("gpu-0", {"nvidia.com/gpu": "true"}, [{"key": "node.kubernetes.io/not-ready",
                                                             "effect": "NoSchedule"}], **{"nvidia.com/gpu": "8"})]
    (problem,) = scheduling_problems(observed(pods=[gpu_pod(1)], nodes=not_ready), set())
    assert not problem.definitive and problem.sentence.endswith(f"scheduler: {SCHEDULER}")
    (problem,) = scheduling_problems(observed(pods=[gpu_pod(8)], nodes=NODES), set())
    assert not problem.definitive and problem.cause == "Unschedulable"


def test_an_autoscaler_scaling_up_keeps_patience() -> None:
    stuck = gpu_pod(1, nodeSelector={"pool": "h100"})
    scaling = event(stuck, "TriggeredScaleUp", "pod triggered scale-up: [{h100-pool 0->1 (max: 4)}]")
    (problem,) = scheduling_problems(observed(pods=[stuck], nodes=NODES, events=[scaling]), set())
    assert problem.cause == "NodeSelector" and not problem.definitive


def test_a_pod_waiting_for_an_explained_claim_is_left_to_the_claim() -> None:
    volumes = [{"name": "storage", "persistentVolumeClaim": {"claimName": "data"}}]
    stuck = pod("train-0", unschedulable="0/3 nodes are available: pod has unbound immediate "
                "PersistentVolumeClaims.", volumes=volumes)
    assert scheduling_problems(observed(pods=[stuck], nodes=NODES), {"data"}) == []
    assert len(scheduling_problems(observed(pods=[stuck], nodes=NODES), set())) == 1


def test_toleration_matching_follows_kubernetes_rules() -> None:
    taint = client.V1Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")
    assert tolerates(client.V1Toleration(operator="Exists"), taint)
    assert tolerates(client.V1Toleration(key="nvidia.com/gpu", value="present"), taint)
    assert not tolerates(client.V1Toleration(key="nvidia.com/gpu", value="absent"), taint)
    assert not tolerates(client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoExecute"), taint)
