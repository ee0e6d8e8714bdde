"""Values files: load, validate against the chart's JSON schema, generate from a profile.

Validation errors name the JSON path, the bad value and what is allowed, so a user
fixes a values file without reading the schema.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lfk8s.paths import ProjectPaths
from lfk8s.schema import load_json_schema


@dataclass(frozen=True)
class ValueProblem:
    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message} (got {json.dumps(self.value, default=str)})"


class InvalidValues(ValueError):
    def __init__(self, source: str, problems: list[ValueProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid values:\n{lines}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise InvalidValues(str(path), [ValueProblem("", data, "a values file is a mapping of keys to values")])
    return data


def json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# What each JSON-schema keyword allows, in words ({} is the keyword's value).
_ALLOWED = {
    "type": "allowed: a value of type {}",
    "minimum": "allowed: >= {}",
    "exclusiveMinimum": "allowed: > {}",
    "maximum": "allowed: <= {}",
    "pattern": "allowed: strings matching {}",
    "maxLength": "allowed: at most {} characters",
    "minLength": "allowed: at least {} character(s)",
    "minItems": "allowed: at least {} item(s)",
}


def _allowed(error: jsonschema.ValidationError) -> str:
    schema, kind = error.schema, error.validator
    if kind == "enum":
        return "allowed: " + ", ".join(json.dumps(v) for v in schema["enum"])
    if kind == "additionalProperties":
        return "allowed keys: " + ", ".join(sorted(schema.get("properties", {})))
    if kind == "not":
        return f"not allowed: {json.dumps(error.validator_value)}"
    if kind in _ALLOWED:
        return _ALLOWED[kind].format(error.validator_value)
    return f"allowed: {kind} {json.dumps(error.validator_value)}"


def _problem(error: jsonschema.ValidationError) -> ValueProblem:
    path = json_path(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        key_path = ", ".join(f"{path}.{key}" if path else key for key in extra)
        return ValueProblem(key_path, [error.instance[k] for k in extra][0] if len(extra) == 1 else extra,
                            f"unknown key; {_allowed(error)}")
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return ValueProblem(f"{path}.{missing}" if path else missing, None, "required")
    description = error.schema.get("description", "")
    message = _allowed(error) + (f" ({description})" if description and error.validator == "not" else "")
    return ValueProblem(path, error.instance, message)


def problems(values: dict[str, Any], schema: dict[str, Any]) -> list[ValueProblem]:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return [_problem(error) for error in errors]


def with_chart_defaults(values: dict[str, Any], paths: ProjectPaths) -> dict[str, Any]:
    """What helm validates: the chart's values.yaml overlaid with the user's values."""
    return deep_merge(load(paths.values_yaml), values)


def validate(values: dict[str, Any], paths: ProjectPaths, source: str = "values") -> None:
    found = problems(with_chart_defaults(values, paths), load_json_schema(paths))
    if found:
        raise InvalidValues(source, found)


# ---------- Profiles: the short description of an environment ----------

@dataclass(frozen=True)
class Profile:
    """What differs between environments; everything else is the chart's default."""

    environment: str
    components: list[str] = field(default_factory=lambda: ["training", "merge", "webui", "inference"])
    namespace: str = ""
    create_namespace: bool = False
    gpus_per_node: int = 8
    training_gpus: int = 1
    inference_gpus: int = 1
    inference_replicas: int = 1
    engine: str = "vllm"
    model_path: str = "/storage/models/base-model"
    served_model_name: str = "llama-factory-model"
    model_source: str = "merged"
    mlflow_tracking_uri: str = ""
    mlflow_existing_secret: str = ""
    mlflow_experiment: str = "llama-factory"
    storage_type: str = "pvc"
    storage_class: str = ""
    storage_size: str = "200Gi"
    nfs_server: str = ""
    nfs_path: str = ""
    existing_claim: str = ""
    image_registry: str = ""
    small_resources: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    COMPONENTS = ("training", "merge", "webui", "inference")

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str) -> "Profile":
        known = {f.name.replace("_", "-"): f.name for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidValues(source, [ValueProblem(key, data[key], "unknown profile key; allowed keys: " + ", ".join(sorted(known))) for key in unknown])
        profile = cls(**{known[key]: value for key, value in data.items()})
        bad = [c for c in profile.components if c not in cls.COMPONENTS]
        if bad:
            raise InvalidValues(source, [ValueProblem("components", bad, "allowed: " + ", ".join(cls.COMPONENTS))])
        for name in ("training_gpus", "inference_gpus"):
            if getattr(profile, name) > profile.gpus_per_node:
                raise InvalidValues(source, [ValueProblem(name.replace("_", "-"), getattr(profile, name),
                                                          f"allowed: <= gpus-per-node ({profile.gpus_per_node}); a pod cannot span nodes")])
        return profile

    @classmethod
    def load(cls, path: Path) -> "Profile":
        return cls.from_mapping(yaml.safe_load(path.read_text()) or {}, str(path))


# Requests small enough for a laptop-sized local cluster of mocked nodes.
_SMALL_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of base with override merged in, recursively for mappings (as helm merges values)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def from_profile(profile: Profile) -> dict[str, Any]:
    """The values file of an environment: only what differs from the chart's defaults."""
    enabled = set(profile.components)
    values: dict[str, Any] = {
        "namespace": {"create": profile.create_namespace, "name": profile.namespace},
        "mlflow": {"experimentName": profile.mlflow_experiment},
        "storage": {"type": profile.storage_type, "paths": {"baseModel": profile.model_path}},
        "training": {"enabled": "training" in enabled, "gpus": profile.training_gpus},
        "merge": {"enabled": "merge" in enabled},
        "webui": {"enabled": "webui" in enabled},
        "inference": {
            "enabled": "inference" in enabled,
            "engine": profile.engine,
            "modelSource": profile.model_source,
            "servedModelName": profile.served_model_name,
            "replicas": profile.inference_replicas,
            "gpus": profile.inference_gpus,
            "tensorParallelSize": max(1, profile.inference_gpus),
        },
    }
    if profile.mlflow_existing_secret:
        values["mlflow"]["existingSecret"] = profile.mlflow_existing_secret
    else:
        values["mlflow"]["trackingUri"] = profile.mlflow_tracking_uri
    if profile.storage_type != "existingClaim":
        values["storage"]["size"] = profile.storage_size
    if profile.storage_type == "pvc" and profile.storage_class:
        values["storage"]["storageClassName"] = profile.storage_class
    if profile.storage_type == "nfs":
        values["storage"]["nfs"] = {"server": profile.nfs_server, "path": profile.nfs_path}
    if profile.storage_type == "existingClaim":
        values["storage"]["existingClaim"] = profile.existing_claim
    if profile.image_registry:
        defaults = {"training": "llama-factory-train", "vllm": "vllm-openai", "sglang": "sglang"}
        values["images"] = {key: {"repository": f"{profile.image_registry}/{name}"} for key, name in defaults.items()}
    if profile.small_resources:
        for component in Profile.COMPONENTS:
            values[component]["resources"] = copy.deepcopy(_SMALL_RESOURCES)
    return deep_merge(values, profile.overrides)


def render_file(profile: Profile, source: Path) -> str:
    header = (f"# Values for the {profile.environment} environment.\n"
              f"# GENERATED by `lfk8s values generate {source.as_posix()}`: edit the profile, not this file.\n")
    return header + yaml.safe_dump(from_profile(profile), sort_keys=False, width=1000)


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
        content = render_file(profile, source.relative_to(paths.root))
        values = yaml.safe_load(content)
        validate(values, paths, str(target.relative_to(paths.root)))
        if not target.exists() or target.read_text() != content:
            changed.append(target)
            if not check_only:
                target.write_text(content)
    return changed
