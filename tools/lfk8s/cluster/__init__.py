"""The local Kubernetes cluster: a real control plane built from source with kwok's mocked GPU
nodes, its PKI, the kind backend, and the MLflow server standing in for the users' own."""
