"""A fresh release target per test: its own namespace (created with the chart's Pod Security
labels) and release name, the namespace deleted afterwards. Shared by every cluster-backed tier."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes import client

from lfk8s.chart.helm import Helm
from lfk8s.paths import ProjectPaths
from lfk8s.release.target import Target, ensure_namespace


@contextmanager
def fresh_target(helm: Helm, api: client.ApiClient, paths: ProjectPaths) -> Iterator[Target]:
    suffix = uuid.uuid4().hex[:6]
    target = Target(helm=helm, api=api, paths=paths, release=f"lf-{suffix}", namespace=f"t-{suffix}")
    ensure_namespace(target)
    try:
        yield target
    finally:
        client.CoreV1Api(api).delete_namespace(target.namespace)
