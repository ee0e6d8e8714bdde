"""A release of the chart in a cluster (any cluster, by kubeconfig): install watched for pods
that cannot start, read back, prove upgrades, report status, operate (train, logs, chat)."""
