"""One registry for air-gapped clusters: with global.imageRegistry set, no image of any values file
or any component escapes it (router and test hooks included), an image's own registry wins, and
global.imagePullSecrets reach every pod."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from lfk8s.chart import rendering, values
from lfk8s.chart.helm import Helm
from lfk8s.paths import ProjectPaths

MIRROR = "mirror.internal:5000/ml"
VALUES_FILES = sorted((Path(__file__).parents[2] / "values").glob("*.yaml"))


def images_of(rendered: rendering.Rendered) -> set[str]:
    return set(re.findall(r"^\s*image: \"?([^\s\"]+)", rendered.text, re.MULTILINE))


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda p: p.stem)
def test_no_image_of_a_values_file_escapes_the_registry(helm: Helm, paths: ProjectPaths, values_file: Path) -> None:
    data = copy.deepcopy(values.load(values_file))
    data.setdefault("global", {})["imageRegistry"] = MIRROR
    rendered = rendering.render(helm, paths, data, namespace=rendering.release_namespace(data))
    images = images_of(rendered)
    assert images and all(image.startswith(MIRROR + "/") for image in images), images


def test_no_image_of_any_component_escapes_the_registry(helm: Helm, paths: ProjectPaths,
                                                        all_on: dict[str, Any]) -> None:
    seen: set[str] = set()
    for variant in ({"inference": {"engine": "vllm", "replicas": 2, "router": {"enabled": True}}},
                    {"inference": {"engine": "sglang"}}, {"inference": {"engine": "llamafactory", "gpus": 0}},
                    {"training": {"stage": "grpo", "finetuningType": "full"}, "merge": {"enabled": False}}):
        data = values.deep_merge(all_on, {**variant, "global": {"imageRegistry": MIRROR}})
        seen |= images_of(rendering.render(helm, paths, data))
    assert all(image.startswith(MIRROR + "/") for image in seen), seen
    # training, vllm, sglang, easyr1, router and the test hooks: every image the chart can run
    assert {image.split("/")[-1].split(":")[0] for image in seen} >= {
        "llama-factory-train", "vllm-openai", "sglang", "easyr1", "lmstack-router", "busybox"}


def test_the_path_is_kept_and_an_images_own_registry_wins(helm: Helm, paths: ProjectPaths,
                                                          all_on: dict[str, Any]) -> None:
    data = values.deep_merge(all_on, {"global": {"imageRegistry": MIRROR},
                                      "images": {"training": {"registry": "team.registry"}}})
    images = images_of(rendering.render(helm, paths, data))
    assert "team.registry/llama-factory-k8s/llama-factory-train:0.9.5" in images
    assert f"{MIRROR}/llama-factory-k8s/vllm-openai:0.33.0" in images
    assert f"{MIRROR}/library/busybox:1.37.0" in images


def test_without_a_registry_images_are_as_written(helm: Helm, paths: ProjectPaths, all_on: dict[str, Any]) -> None:
    images = images_of(rendering.render(helm, paths, all_on))
    assert "ghcr.io/llama-factory-k8s/llama-factory-train:0.9.5" in images


def test_global_pull_secrets_reach_every_pod(helm: Helm, paths: ProjectPaths, all_on: dict[str, Any]) -> None:
    data = values.deep_merge(all_on, {"global": {"imagePullSecrets": ["mirror-creds"]},
                                      "imagePullSecrets": ["mirror-creds", "team-creds"]})
    pods = [spec for _, spec in rendering.pod_specs(rendering.render(helm, paths, data))]
    assert pods
    for spec in pods:
        assert spec["imagePullSecrets"] == [{"name": "mirror-creds"}, {"name": "team-creds"}]


@pytest.mark.parametrize("bad", ["https://mirror.internal", "Mirror.Internal", "mirror.internal/"])
def test_a_registry_with_a_scheme_or_capitals_is_refused(paths: ProjectPaths, bad: str) -> None:
    with pytest.raises(values.InvalidValues, match="global.imageRegistry: allowed: a registry host"):
        values.validate({"global": {"imageRegistry": bad}}, paths)
