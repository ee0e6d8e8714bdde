"""A throwaway OpenPGP signing key for the tests of `chart package --sign` and `helm verify`: made
with GnuPG (Debian's gnupg, installed by the project) in a GNUPGHOME of its own, exported as the
binary secret and public keyrings helm reads. Never a key anyone publishes with."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lfk8s.release.publish import SigningKey
from lfk8s.toolchain.debian import ensure_packages

TEST_KEY_NAME = "lfk8s chart tests <chart-tests@lfk8s.invalid>"


def make_test_key(directory: Path) -> tuple[SigningKey, Path]:
    """(the signing key, the public keyring) under `directory`."""
    ensure_packages(("gnupg",))
    home = directory / "gnupg"
    home.mkdir(parents=True, mode=0o700, exist_ok=True)
    env = dict(os.environ, GNUPGHOME=str(home))

    def gpg(*args: str) -> bytes:
        return subprocess.run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                              env=env, capture_output=True, check=True).stdout

    try:
        gpg("--quick-gen-key", TEST_KEY_NAME, "rsa2048", "sign", "never")
        secret, public = directory / "secring.gpg", directory / "pubring.gpg"
        secret.write_bytes(gpg("--export-secret-keys", TEST_KEY_NAME))
        public.write_bytes(gpg("--export", TEST_KEY_NAME))
    finally:
        # gpg starts an agent for the home; it would outlive the tests.
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
    return SigningKey(TEST_KEY_NAME, secret), public
