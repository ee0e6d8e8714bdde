"""The training pod's `resume-checkpoints` init container: makes a retried run resume from its
newest complete checkpoint.

The trainer writes a checkpoint's trainer_state.json last. A pod stopped while saving leaves a
`checkpoint-N` directory without a readable one, and LLaMA-Factory, which resumes from the
highest `checkpoint-N` in the run's output directory, would pick it and fail on every retry.
Each such directory is set aside by renaming it to `incomplete-checkpoint-N-<time>` (nothing is
deleted; the trainer's checkpoint rotation and resume both ignore the new name), and the log
says what was set aside and where the run resumes.

Usage: python3 resume_checkpoints.py OUTPUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

# transformers' PREFIX_CHECKPOINT_DIR and TRAINER_STATE_NAME (held to the pinned wheel by a test).
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE = "trainer_state.json"


def complete(checkpoint: Path) -> bool:
    """A checkpoint is complete once its trainer state, written last, reads back whole."""
    try:
        state = json.loads((checkpoint / STATE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and "global_step" in state


def checkpoints(output: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), path) for path in output.iterdir()
             if (m := CHECKPOINT.match(path.name)) and path.is_dir()]
    return sorted(found)


def set_aside(output: Path, now: float) -> list[str]:
    """Renames every incomplete checkpoint of `output`; returns one log line per decision."""
    if not output.is_dir():
        return [f"{output} does not exist yet: the run starts at step 0"]
    lines, complete_steps = [], []
    for step, path in checkpoints(output):
        if complete(path):
            complete_steps.append(step)
            continue
        target = output / f"incomplete-{path.name}-{int(now)}"
        try:
            path.rename(target)
        except FileNotFoundError:
            continue  # another rank of the same run set it aside first
        lines.append(f"{path} has no readable {STATE} (the pod stopped while saving it): "
                     f"set aside as {target.name}, not deleted; remove it when you no longer need it")
    if complete_steps:
        lines.append(f"the run resumes from {output / f'checkpoint-{max(complete_steps)}'}")
    else:
        lines.append(f"no complete checkpoint in {output}: the run starts at step 0")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    for line in set_aside(Path(argv[1]), time.time()):
        print(f"resume-checkpoints: {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
