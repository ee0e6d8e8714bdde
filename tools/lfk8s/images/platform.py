"""The images' platform as pip sees it: manylinux tags and PEP 508 marker values."""

from __future__ import annotations

# glibc of the base images' distributions: the newest manylinux tag their wheels may carry.
GLIBC = {"ubuntu24.04": (2, 39), "ubuntu22.04": (2, 35), "debian11": (2, 31), "bullseye": (2, 31)}

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


