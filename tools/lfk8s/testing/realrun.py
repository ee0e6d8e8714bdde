"""Running a rendered pod's exact command, args and environment as a local process.

The chart's pods are taken from `helm template` output as they are: command, args, env
(ConfigMap and Secret references resolved from the rendered objects, `$(VAR)` expanded as
the kubelet does) and working directory. Each volume mount is mapped to a folder under a
temporary root (the PVC's /storage, the ConfigMap's /etc/llama-factory, the /tmp emptyDir),
the one change made to what the chart rendered. The container's software comes from a local
virtual environment with the training image's pinned LLaMA-Factory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from lfk8s.chart.rendering import Rendered, component_of, pod_specs
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import PipTool

# The training image's direct pins, used when its full lock is not there yet.
_TRAINING_PINS = ("transformers==4.57.1", "torch==2.8.0", "torchvision==0.23.0", "torchaudio==2.8.0",
                  "mlflow-skinny==3.17.2")
# Not needed on a CPU and built from source: left out of the local runtime.
_NOT_IN_RUNTIME = ("deepspeed",)


def llamafactory_runtime(paths: ProjectPaths) -> PipTool:
    """The training image's software for local runs: its direct pins (less DeepSpeed), keyed by their
    hash. Its full lock is resolved for the image's Python, which may not be this machine's."""
    lock = paths.root / "images" / "training" / "requirements.in"
    pins = tuple(_TRAINING_PINS)
    if lock.exists():
        pins = tuple(line.strip() for line in lock.read_text().splitlines()
                     if line.strip() and not line.startswith("#") and "==" in line
                     and line.split("==")[0].strip().lower() not in _NOT_IN_RUNTIME + ("llamafactory",))
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:8]
    return PipTool("llamafactory", "0.9.5", "llamafactory-cli", extra=pins, extra_key=digest)

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class LocalPod:
    """One container of a rendered pod, ready to run on this machine."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    mounts: dict[str, Path] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def environment(self, runtime_bin: Path) -> dict[str, str]:
        # Only the pod's env plus a PATH to the runtime: nothing of this machine's leaks in.
        return {**self.env, "PATH": f"{runtime_bin}:/usr/bin:/bin"}

    def run(self, runtime_bin: Path, timeout: float, log: Path) -> subprocess.CompletedProcess[str]:
        with open(log, "w") as out:
            return subprocess.run(self.command, env=self.environment(runtime_bin), cwd=self.cwd, stdout=out,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout)

    def start(self, runtime_bin: Path, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(self.command, env=self.environment(runtime_bin), cwd=self.cwd, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)


def _config_data(rendered: Rendered, name: str) -> dict[str, str]:
    return cast(dict[str, str], rendered.get("ConfigMap", name=name)["data"])


def _secret_data(rendered: Rendered, name: str) -> dict[str, str]:
    secret = rendered.get("Secret", name=name)
    data = dict(secret.get("stringData", {}))
    data.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    return data


def _map_paths(text: str, mounts: dict[str, Path]) -> str:
    """Every mount path at the start of a path, replaced once (longest mount first)."""
    if not mounts:
        return text
    pattern = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
    return re.sub(rf"(?<![\w/.-])({pattern})(?=/|\b|$)", lambda m: str(mounts[m.group(1)]), text)


def local_pod(rendered: Rendered, component: str, root: Path, container: str | None = None,
              port_map: dict[int, int] | None = None) -> LocalPod:
    """The component's main container as a local process rooted at `root`."""
    workloads = [(w, s) for w, s in pod_specs(rendered)
                 if component_of(w) == component and w["kind"] != "Pod"]
    if len(workloads) != 1:
        raise LookupError(f"expected one {component} workload, found {len(workloads)}")
    workload, spec = workloads[0]
    main = next(c for c in spec["containers"] if container in (None, c["name"]))
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts: dict[str, Path] = {}
    for mount in main.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        target = root / mount["name"] / mount.get("subPath", "")
        target.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"]] = target
        if "configMap" in volume:
            for key, value in _config_data(rendered, volume["configMap"]["name"]).items():
                (target / key).write_text(value)

    env: dict[str, str] = {}
    for item in main.get("env", []):
        if "value" in item:
            value = item["value"]
        else:
            source = item["valueFrom"]
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                value = _config_data(rendered, ref["name"])[ref["key"]]
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = _secret_data(rendered, ref["name"])
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise KeyError(f"{component}: Secret {ref['name']} lacks {ref['key']}")
                value = data[ref["key"]]
            else:
                continue  # fieldRef: known only to the kubelet (Indexed Job ranks)
        env[item["name"]] = _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value)

    port_map = port_map or {}
    for name, value in list(env.items()):
        env[name] = _map_paths(value, mounts)
        if value.isdigit() and int(value) in port_map:
            env[name] = str(port_map[int(value)])
    for path in mounts.values():
        for file in path.glob("*"):
            if file.is_file() and file.suffix in (".yaml", ".json"):
                file.write_text(_map_paths(file.read_text(), mounts))
    command = [_map_paths(_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), arg), mounts)
               for arg in [*main.get("command", []), *main.get("args", [])]]
    cwd = Path(_map_paths(main["workingDir"], mounts)) if "workingDir" in main else root
    ports = {p["name"]: port_map.get(p["containerPort"], p["containerPort"]) for p in main.get("ports", [])}
    return LocalPod(workload["metadata"]["name"], command, env, cwd, mounts, ports)


# ---------- a tiny model made here: no hub, no download ----------

_MAKE_TINY_MODEL = r'''
import json, sys
from pathlib import Path
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out, data = Path(sys.argv[1]), Path(sys.argv[2])
records = json.loads(data.read_text())
texts = [" ".join(r[k] for k in ("instruction", "input", "output") if r.get(k)) for r in records]
# The llama3 chat template's markers, as single special tokens.
special = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
           "<|eom_id|>"]
tokenizer = Tokenizer(models.BPE(unk_token=None))
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
tokenizer.train_from_iterator(texts * 4, trainers.BpeTrainer(vocab_size=512, special_tokens=special,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                               pad_token="<|end_of_text|>")
fast.save_pretrained(out)
config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                     bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                     tie_word_embeddings=False)
LlamaForCausalLM(config).save_pretrained(out)
print(out)
'''


def tiny_dataset(count: int = 32) -> list[dict[str, str]]:
    """Alpaca records made here, small enough to train on a CPU in seconds."""
    colours = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
    things = ["apple", "leaf", "sky", "sun", "plum", "carrot", "night", "snow"]
    return [{"instruction": f"What colour is the {things[i % 8]}?", "input": "",
             "output": f"The {things[i % 8]} is {colours[i % 8]}."} for i in range(count)]


def make_tiny_model(python: Path, model_dir: Path, dataset_file: Path) -> None:
    """A 2-layer Llama with random weights and a tokenizer trained on the dataset."""
    model_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([str(python), "-c", _MAKE_TINY_MODEL, str(model_dir), str(dataset_file)],
                            capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"})
    if result.returncode != 0:
        raise RuntimeError(f"could not make the tiny model:\n{result.stderr[-3000:]}")


def ensure_runtime(paths: ProjectPaths, report: Reporter = quiet) -> Path:
    """The bin/ of the local LLaMA-Factory runtime (installed once, cached by its pins)."""
    return llamafactory_runtime(paths).ensure(report).parent


def python_of(runtime_bin: Path) -> Path:
    return runtime_bin / "python"

