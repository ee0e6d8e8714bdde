"""Shipping the chart as charts are shipped: `helm package` (signed with the publisher's OpenPGP
key into a provenance file), `helm push` to an OCI registry, `helm verify` of a package against a
public keyring, and reading a pushed chart back (`helm show`, `helm pull --verify`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lfk8s.chart.defaults import chart_metadata
from lfk8s.chart.helm import Helm
from lfk8s.paths import ProjectPaths


@dataclass(frozen=True)
class SigningKey:
    """The publisher's key: its name (as `gpg --list-secret-keys` shows its user id) and the
    binary secret keyring holding it (`gpg --export-secret-keys > secring.gpg`); a passphrase,
    when the key has one, comes from $HELM_KEY_PASSPHRASE as helm reads it."""

    name: str
    keyring: Path


def package(helm: Helm, paths: ProjectPaths, destination: Path, key: SigningKey | None = None) -> Path:
    """The chart's .tgz in `destination` (with its .prov beside it when signed)."""
    destination.mkdir(parents=True, exist_ok=True)
    args = ["package", str(paths.chart), "--destination", str(destination)]
    if key is not None:
        args += ["--sign", "--key", key.name, "--keyring", str(key.keyring)]
    helm.run(args)
    metadata = chart_metadata(paths)
    archive = destination / f"{metadata['name']}-{metadata['version']}.tgz"
    if not archive.exists():
        raise FileNotFoundError(f"helm package wrote no {archive.name} in {destination}")
    return archive


def verify(helm: Helm, archive: Path, public_keyring: Path) -> str:
    """`helm verify`: the package matches its provenance file, signed by a key of the keyring."""
    return helm.run(["verify", str(archive), "--keyring", str(public_keyring)])


def push(helm: Helm, archive: Path, repository: str, plain_http: bool = False) -> str:
    """`helm push` to an OCI repository (`oci://host[:port]/path`); returns what helm printed."""
    if not repository.startswith("oci://"):
        raise ValueError(f"{repository}: an OCI repository starts with oci://")
    return helm.run(["push", str(archive), repository, *(["--plain-http"] if plain_http else [])])


def show(helm: Helm, reference: str, what: str, version: str, plain_http: bool = False) -> str:
    """`helm show readme|values|chart` of a chart in an OCI repository."""
    return helm.run(["show", what, reference, "--version", version, *(["--plain-http"] if plain_http else [])])


def pull_verified(helm: Helm, reference: str, version: str, destination: Path, public_keyring: Path,
                  plain_http: bool = False) -> Path:
    """`helm pull --verify`: download the package and its provenance and check the signature."""
    destination.mkdir(parents=True, exist_ok=True)
    helm.run(["pull", reference, "--version", version, "--destination", str(destination), "--verify",
              "--keyring", str(public_keyring), *(["--plain-http"] if plain_http else [])])
    name = reference.rstrip("/").rsplit("/", 1)[-1]
    return destination / f"{name}-{version}.tgz"
