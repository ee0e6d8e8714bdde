"""The whole diagnosis of one observation, and when a watcher should stop waiting for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lfk8s.release.diagnosis.claims import claim_problems
from lfk8s.release.diagnosis.containers import container_problems
from lfk8s.release.diagnosis.controllers import controller_problems
from lfk8s.release.diagnosis.model import Observed, Problem
from lfk8s.release.diagnosis.scheduling import scheduling_problems


def diagnose(observed: Observed) -> list[Problem]:
    """Every cause the observation shows, one sentence each: claims first (pods wait on them),
    then the controllers that cannot create pods, pods that cannot be placed, containers that fail."""
    claims = claim_problems(observed)
    explained_claims = {problem.name for problem in claims}
    return [*claims, *controller_problems(observed), *scheduling_problems(observed, explained_claims),
            *container_problems(observed)]


@dataclass
class Patience:
    """When to stop waiting: at once for a cause waiting cannot heal, after `seconds` for one that
    has stayed since (a pull that may succeed on retry, a scheduler that may find room)."""

    seconds: float
    first_seen: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def exhausted(self, problems: list[Problem], now: float) -> bool:
        # A cause that went away and came back starts its patience again.
        self.first_seen = {p.key: self.first_seen.get(p.key, now) for p in problems}
        return any(p.definitive or now - self.first_seen[p.key] >= self.seconds for p in problems)
