"""Host settings kind nodes need: enough inotify instances for every node's kubelet.

Every kubelet (and systemd, in each node) takes inotify instances from the host's per-user limit;
with the common default of 128, a second 4-node cluster's kubelets fail with "inotify_init: too
many open files" (kind's documented known issue). `raise_inotify` lifts the limit while kind
clusters exist and remembers the original, which `restore_inotify` puts back after the last one.
"""

from __future__ import annotations

import os
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet

INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
# kind's known-issues page suggests 512.
WANTED = 512


def _saved() -> Path:
    return cache_dir() / "kind-runtime" / "inotify-max-user-instances.orig"


def raise_inotify(report: Reporter = quiet, setting: Path = INOTIFY) -> None:
    current = int(setting.read_text())
    if current >= WANTED:
        return
    if not os.access(setting, os.W_OK):
        # Not root: one cluster of a few nodes fits the default; a second may not.
        report(f"fs.inotify.max_user_instances is {current} and only root can raise it: more than one kind "
               f"cluster may fail with 'too many open files' (sudo sysctl fs.inotify.max_user_instances={WANTED})")
        return
    saved = _saved()
    saved.parent.mkdir(parents=True, exist_ok=True)
    if not saved.exists():
        saved.write_text(str(current))
    report(f"raising fs.inotify.max_user_instances {current} -> {WANTED} while kind clusters run")
    setting.write_text(str(WANTED))


def restore_inotify(report: Reporter = quiet, setting: Path = INOTIFY) -> None:
    saved = _saved()
    if not saved.exists():
        return
    original = saved.read_text().strip()
    report(f"restoring fs.inotify.max_user_instances to {original}")
    setting.write_text(original)
    saved.unlink()
