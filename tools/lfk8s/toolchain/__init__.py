"""Installing the pinned tools the harness runs (helm, checkov, MLflow, hadolint, the local
cluster's Kubernetes binaries) into ~/.cache/lfk8s, keyed by version. Imports only the base
modules (paths, progress, versions)."""
