"""Certificates for the local cluster: one CA, the API server's serving certificate,
client certificates for each component, and the service-account signing key."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass(frozen=True)
class ClusterPKI:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def kubeconfig(self, cluster: str, server: str, user: str) -> dict[str, Any]:
        """A kubeconfig for `server` that authenticates with the client certificate named `user`."""
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": cluster,
            "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority": str(self.ca_cert)}}],
            "users": [{"name": user,
                       "user": {"client-certificate": str(self.cert(user)), "client-key": str(self.key(user))}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        }

    def ensure(self, servers: dict[str, list[str]], clients: dict[str, tuple[str, str | None]]) -> None:
        """Create what is missing. servers: file name -> subject alternative names;
        clients: file name -> (common name, organization)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.ca_cert.exists():
            self._write_ca()
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.ca_key}: not the elliptic-curve key this PKI writes")
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        for file_name, sans in servers.items():
            if not self.cert(file_name).exists():
                self._issue(file_name, _name(file_name), ca_cert, ca_key, server_sans=sans)
        for file_name, (common_name, organization) in clients.items():
            if not self.cert(file_name).exists():
                self._issue(file_name, _name(common_name, organization), ca_cert, ca_key)
        if not self.sa_key.exists():
            key = _key()
            self.sa_key.write_bytes(_pem_key(key))
            self.sa_pub.write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def _write_ca(self) -> None:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(_name("lfk8s-local-ca")).issuer_name(_name("lfk8s-local-ca"))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False, decipher_only=False),
                               critical=True)
                .sign(key, hashes.SHA256()))
        self.ca_key.write_bytes(_pem_key(key))
        self.ca_key.chmod(0o600)
        self.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _issue(self, file_name: str, subject: x509.Name, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
               server_sans: list[str] | None = None) -> None:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if server_sans is not None:
            names: list[x509.GeneralName] = []
            for san in server_sans:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(san)))
                except ValueError:
                    names.append(x509.DNSName(san))
            builder = (builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        self.key(file_name).write_bytes(_pem_key(key))
        self.key(file_name).chmod(0o600)
        self.cert(file_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
