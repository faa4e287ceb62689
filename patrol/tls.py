"""Certificates for TLS: a private certificate authority and server/client certificates it signs.

For a park without a PKI of its own, and for tests: `make_pki(folder)` writes a CA, a server
certificate valid for the given host names / IP addresses, and a client certificate, all as PEM
files, and returns their paths. Mosquitto (`listener ... cafile/certfile/keyfile`), the service's
bus (`broker.ca_file`, `mqtts://`) and uvicorn (`ssl_certfile`/`ssl_keyfile`) read them directly.
Keys are ECDSA P-256; private keys are written with mode 0600.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 365


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, as PEM files."""

    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class Pki:
    """A CA and the certificates it signed."""

    ca: CertPair
    server: CertPair
    client: CertPair

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """An SSL context for a server presenting `server` (and checking clients when asked)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca.cert_file))
        ctx.load_cert_chain(str(self.server.cert_file), str(self.server.key_file))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
        return ctx

    def client_context(self, *, with_client_cert: bool = False) -> ssl.SSLContext:
        """An SSL context that trusts only this CA (and presents `client` when asked)."""
        ctx = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if with_client_cert:
            ctx.load_cert_chain(str(self.client.cert_file), str(self.client.key_file))
        return ctx


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ParkPatrol"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey,
           *, days: int, ca: bool, hosts: Sequence[str] = (), usage: x509.ObjectIdentifier | None = None
           ) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                          data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    if hosts:
        b = b.add_extension(_san(hosts), critical=False)
    if usage is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _save(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, folder: Path, stem: str) -> CertPair:
    pair = CertPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pair.key_file)
    return pair


def make_pki(folder: Path, *, hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
             client_name: str = "parkpatrol-client", days: int = DEFAULT_DAYS) -> Pki:
    """Write `ca.crt/key`, `server.crt/key` (valid for `hosts`) and `client.crt/key` into `folder`."""
    if not hosts:
        raise ValueError("hosts: give at least one host name or IP address for the server certificate")
    if days < 1:
        raise ValueError(f"days: must be at least 1, got {days}")
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("ParkPatrol private CA")
    ca_cert = _issue("ParkPatrol private CA", ca_key, ca_name, ca_key, days=days, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _issue(hosts[0], server_key, ca_name, ca_key, days=days, ca=False, hosts=hosts,
                         usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _issue(client_name, client_key, ca_name, ca_key, days=days, ca=False,
                         usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca=_save(ca_cert, ca_key, folder, "ca"), server=_save(server_cert, server_key, folder, "server"),
               client=_save(client_cert, client_key, folder, "client"))


def mosquitto_tls_listener(port: int, pki: Pki, *, host: str = "127.0.0.1",
                           require_client_cert: bool = False) -> list[str]:
    """Mosquitto config lines for a TLS listener on `port` using `pki` (for `MosquittoProcess.extra_config`)."""
    return [
        f"listener {port} {host}",
        f"cafile {pki.ca.cert_file}",
        f"certfile {pki.server.cert_file}",
        f"keyfile {pki.server.key_file}",
        "tls_version tlsv1.2",
        f"require_certificate {'true' if require_client_cert else 'false'}",
    ]


def cmd_tls_certs(args: argparse.Namespace) -> int:
    """`parkpatrol tls-certs`: write a private CA and server/client certificates, print how to use them."""
    out = Path(args.out)
    if (out / "ca.key").exists() and not args.force:
        print(f"error: {out / 'ca.key'} exists; pass --force to replace the CA (every certificate it signed "
              "stops being trusted)", file=sys.stderr)
        return 2
    try:
        pki = make_pki(out, hosts=args.host or ["localhost", "127.0.0.1"], days=args.days)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"CA:     {pki.ca.cert_file} (give to clients; keep {pki.ca.key_file} offline)")
    print(f"server: {pki.server.cert_file} {pki.server.key_file}")
    print(f"client: {pki.client.cert_file} {pki.client.key_file}")
    print(f"service: [broker] url = \"mqtts://<host>:8883\", ca_file = \"{pki.ca.cert_file}\"")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tls-certs", help="make a private CA and TLS certificates for the broker and HTTPS")
    p.add_argument("--out", required=True, type=Path, help="folder for the PEM files")
    p.add_argument("--host", action="append", help="server host name or IP (repeat; default localhost, 127.0.0.1)")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"validity (default {DEFAULT_DAYS})")
    p.add_argument("--force", action="store_true", help="replace an existing CA")
    p.set_defaults(func=cmd_tls_certs)


__all__ = ["CertPair", "Pki", "add_commands", "make_pki", "mosquitto_tls_listener"]
