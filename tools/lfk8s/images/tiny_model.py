"""A tiny model and dataset made here (no hub, no download), written to a shared storage folder by
the training image itself: what the local stack's real training, merge and serving run on, and
what the real-run and node tiers test them with."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

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


def make_tiny_model(image: str, storage: Path, model_dir: str, dataset_file: str) -> None:
    """A 2-layer Llama with random weights and a tokenizer trained on the dataset, written by the
    image's own Python (as uid 10001, read-only root) to `model_dir` on the storage."""
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "10001:10001", "--read-only",
         "--tmpfs", "/tmp:rw,mode=1777", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
         "--mount", f"type=bind,source={storage},target=/storage", "--env", "HF_HUB_OFFLINE=1",
         "--entrypoint", "python", image, "-c", _MAKE_TINY_MODEL, model_dir, dataset_file],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"could not make the tiny model:\n{result.stderr[-3000:]}")


def prepare_storage(image: str, storage: Path, owner: int) -> None:
    """The shared storage as users prepare it: the dataset at data/train.json and a base model at
    models/base-model, written by the training image itself; nothing downloaded. `owner` is the
    uid the chart's pods run as (podSecurityContext.runAsUser), as an NFS export for them would be."""
    (storage / "data").mkdir(parents=True, exist_ok=True)
    (storage / "data" / "train.json").write_text(json.dumps(tiny_dataset()))
    for path in (storage, *storage.rglob("*")):
        os.chown(path, owner, owner)
    make_tiny_model(image, storage, "/storage/models/base-model", "/storage/data/train.json")
