"""The images' platform as pip sees it: manylinux tags and PEP 508 marker values."""

from __future__ import annotations

# glibc of the base images' distributions: the newest manylinux tag their wheels may carry.
GLIBC = {
    "bookworm-slim": (2, 36), "bookworm": (2, 36),  # Debian 12, the images' base
    "debian11": (2, 31),  # the raw-manifest deployment's base (its pins are checked to fail)
}


def platforms(glibc: tuple[int, int]) -> list[str]:
    """Every manylinux tag a system with this glibc accepts, newest first.

    pip expands only the legacy aliases (manylinux2014 -> 2010 -> 1), not manylinux_2_X, so each
    one is passed as its own --platform."""
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
    return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def target_environment(python: str) -> dict[str, str]:
    """PEP 508 marker values of the images: CPython X.Y on linux x86_64."""
    return {"python_version": python, "python_full_version": f"{python}.0", "platform_machine": "x86_64",
            "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython"}


