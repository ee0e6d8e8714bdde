"""Profiles: the short description of an environment (values/profiles/<env>.yaml) and the
values file generated from it (values/<env>.yaml), holding only what differs from the chart.

A profile key left out means the chart's own default, read from values.yaml: the harness keeps
no copy of it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from lfk8s.chart.defaults import default
from lfk8s.chart.values import InvalidValues, ValueProblem, deep_merge, validate
from lfk8s.paths import ProjectPaths

COMPONENTS = ("training", "merge", "webui", "inference")
# Profile keys whose default is the chart's: the values.yaml key each one sets.
CHART_KEYS = {
    "training_gpus": "training.gpus",
    "inference_gpus": "inference.gpus",
    "inference_replicas": "inference.replicas",
    "engine": "inference.engine",
    "model_path": "storage.paths.baseModel",
    "served_model_name": "inference.servedModelName",
    "model_source": "inference.modelSource",
    "mlflow_experiment": "mlflow.experimentName",
    "storage_type": "storage.type",
    "storage_size": "storage.size",
}


@dataclass(frozen=True)
class Profile:
    """What differs between environments; everything else is the chart's default."""

    environment: str
    components: list[str] = field(default_factory=lambda: list(COMPONENTS))
    # The namespace the environment's release goes to (namespace.name: a statement the chart checks).
    namespace: str = ""
    # The profile's own view of the pool, to refuse a pod larger than a node.
    gpus_per_node: int = 8
    # None: the chart's default (the values.yaml key in CHART_KEYS).
    training_gpus: int | None = None
    inference_gpus: int | None = None
    inference_replicas: int | None = None
    engine: str | None = None
    model_path: str | None = None
    served_model_name: str | None = None
    model_source: str | None = None
    mlflow_tracking_uri: str = ""
    mlflow_existing_secret: str = ""
    mlflow_experiment: str | None = None
    storage_type: str | None = None
    storage_class: str = ""
    storage_size: str | None = None
    nfs_server: str = ""
    nfs_path: str = ""
    existing_claim: str = ""
    image_registry: str = ""
    small_resources: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str) -> Profile:
        known = {f.name.replace("_", "-"): f.name for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            allowed = "unknown profile key; allowed keys: " + ", ".join(sorted(known))
            raise InvalidValues(source, [ValueProblem(key, data[key], allowed) for key in unknown])
        profile = cls(**{known[key]: value for key, value in data.items()})
        bad = [c for c in profile.components if c not in COMPONENTS]
        if bad:
            raise InvalidValues(source, [ValueProblem("components", bad, "allowed: " + ", ".join(COMPONENTS))])
        for name in ("training_gpus", "inference_gpus"):
            gpus = getattr(profile, name)
            if gpus is not None and gpus > profile.gpus_per_node:
                raise InvalidValues(source, [ValueProblem(name.replace("_", "-"), gpus,
                                                          f"allowed: <= gpus-per-node ({profile.gpus_per_node}); "
                                                          "a pod cannot span nodes")])
        return profile

    def setting(self, name: str, paths: ProjectPaths) -> Any:
        """The profile's value of `name`, or the chart's default when the profile leaves it out."""
        value = getattr(self, name)
        return default(paths, CHART_KEYS[name]) if value is None and name in CHART_KEYS else value

    @classmethod
    def load(cls, path: Path) -> Profile:
        return cls.from_mapping(yaml.safe_load(path.read_text()) or {}, str(path))


# Requests small enough for a laptop-sized local cluster of mocked nodes.
_SMALL_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def from_profile(profile: Profile, paths: ProjectPaths) -> dict[str, Any]:
    """The values file of an environment: what the profile sets, the chart's defaults for the rest."""
    def setting(name: str) -> Any:
        return profile.setting(name, paths)

    enabled = set(profile.components)
    storage_type = setting("storage_type")
    values: dict[str, Any] = {
        "namespace": {"name": profile.namespace},
        "mlflow": {"experimentName": setting("mlflow_experiment")},
        "storage": {"type": storage_type, "paths": {"baseModel": setting("model_path")}},
        "training": {"enabled": "training" in enabled, "gpus": setting("training_gpus")},
        "merge": {"enabled": "merge" in enabled},
        "webui": {"enabled": "webui" in enabled},
        "inference": {
            "enabled": "inference" in enabled,
            "engine": setting("engine"),
            "modelSource": setting("model_source"),
            "servedModelName": setting("served_model_name"),
            "replicas": setting("inference_replicas"),
            "gpus": setting("inference_gpus"),
            "tensorParallelSize": max(1, setting("inference_gpus")),
        },
    }
    if profile.mlflow_existing_secret:
        values["mlflow"]["existingSecret"] = profile.mlflow_existing_secret
    else:
        values["mlflow"]["trackingUri"] = profile.mlflow_tracking_uri
    if storage_type != "existingClaim":
        values["storage"]["size"] = setting("storage_size")
    if storage_type == "pvc" and profile.storage_class:
        values["storage"]["storageClassName"] = profile.storage_class
    if storage_type == "nfs":
        values["storage"]["nfs"] = {"server": profile.nfs_server, "path": profile.nfs_path}
    if storage_type == "existingClaim":
        values["storage"]["existingClaim"] = profile.existing_claim
    if profile.image_registry:
        # Every image the chart can run (router and test hooks too) from the environment's mirror.
        values["global"] = {"imageRegistry": profile.image_registry}
    if profile.small_resources:
        for component in COMPONENTS:
            values[component]["resources"] = copy.deepcopy(_SMALL_RESOURCES)
    return deep_merge(values, profile.overrides)


def render_file(profile: Profile, source: Path, paths: ProjectPaths) -> str:
    header = (f"# Values for the {profile.environment} environment.\n"
              f"# GENERATED by `lfk8s values generate {source.as_posix()}`: edit the profile, not this file.\n")
    return header + yaml.safe_dump(from_profile(profile, paths), sort_keys=False, width=1000)


def profile_outputs(paths: ProjectPaths) -> dict[Path, tuple[Path, Profile]]:
    """values/<name>.yaml for every values/profiles/<name>.yaml."""
    outputs = {}
    for profile_path in sorted(paths.profiles_dir.glob("*.yaml")):
        outputs[paths.values_dir / profile_path.name] = (profile_path, Profile.load(profile_path))
    return outputs


def generate_all(paths: ProjectPaths, check_only: bool = False) -> list[Path]:
    """Write (or with check_only, list) every values file that differs from its profile's output."""
    changed = []
    for target, (source, profile) in profile_outputs(paths).items():
        content = render_file(profile, source.relative_to(paths.root), paths)
        values = yaml.safe_load(content)
        validate(values, paths, str(target.relative_to(paths.root)))
        if not target.exists() or target.read_text() != content:
            changed.append(target)
            if not check_only:
                target.write_text(content)
    return changed
