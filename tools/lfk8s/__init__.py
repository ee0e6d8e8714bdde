"""lfk8s: generate, validate, render, lint and install the llama-factory Helm chart."""

__version__ = "0.1.0"
