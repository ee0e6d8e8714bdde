"""Base images made from Debian's packages, so images build where no registry can be reached.

`debian:<suite>-slim` (and `debian:<suite>`) is made as the official image is: a minbase
debootstrap of that suite from Debian's archive, imported into docker under the same name.
The official image comes from the same packages (it also drops documentation files), so the
Dockerfiles build unchanged against either. Other bases cannot be made here and must be pulled.
The rootfs tarball is cached per suite; `refresh=True` makes it again from today's archive."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lfk8s.images.pins import ImageError
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet

DEBIAN_BASE = re.compile(r"^(?:docker\.io/)?(?:library/)?debian:(?P<suite>[a-z]+)(?:-slim)?$")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def image_exists(reference: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", reference], capture_output=True).returncode == 0


def debian_rootfs(suite: str, report: Reporter = quiet, refresh: bool = False) -> Path:
    """A tarball of `debootstrap --variant=minbase SUITE`, cached under <cache>/debian-rootfs/."""
    tarball = cache_dir() / "debian-rootfs" / f"{suite}-minbase.tar"
    if tarball.exists() and not refresh:
        return tarball
    if shutil.which("debootstrap") is None:
        raise ImageError("making a Debian base image needs debootstrap (`apt-get install debootstrap`)")
    mirror = os.environ.get("LFK8S_DEBIAN_MIRROR", DEFAULT_MIRROR)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    report(f"debootstrap --variant=minbase {suite} from {mirror} (once per suite)")
    with tempfile.TemporaryDirectory(prefix=f"lfk8s-{suite}-", dir=tarball.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ImageError(f"debootstrap {suite} failed:\n{(result.stdout + result.stderr)[-3000:]}")
        partial = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.replace(tarball)
    return tarball


def ensure_base(reference: str, report: Reporter = quiet) -> None:
    """The base image `reference` in docker: there already, or made from Debian's packages."""
    if image_exists(reference):
        return
    match = DEBIAN_BASE.match(reference)
    if match is None:
        raise ImageError(f"base image {reference} is not in docker and only Debian bases can be made here: "
                         f"`docker pull {reference}` where a registry is reachable")
    tarball = debian_rootfs(match.group("suite"), report)
    report(f"importing {tarball.name} as {reference}")
    result = subprocess.run(["docker", "import", str(tarball), reference], capture_output=True, text=True)
    if result.returncode != 0:
        raise ImageError(f"docker import {reference} failed: {result.stderr.strip()}")
