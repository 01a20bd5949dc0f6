"""OPC UA security for the connector and `browse`: policy and mode, our certificate, which
servers we trust, and where the password comes from.

- Policy `None` (default) or `Basic256Sha256`, `Aes128Sha256RsaOaep`, `Aes256Sha256RsaPss`
  (those asyncua implements), mode `Sign` or `SignAndEncrypt`.
- Our certificate: `cert_file` / `key_file` if given, else generated on first use into
  `<pki_dir>/own/` (self-signed, RSA 2048, five years, application URI `APPLICATION_URI`) and
  said so in the log, so it can be handed to the server's administrator.
- Trusting the server: its certificate must be in `<pki_dir>/trusted/` (DER or PEM). An unknown
  one is refused, copied to `<pki_dir>/rejected/<thumbprint>.der`, and the message says which
  file to move where to trust it (the way UaExpert and most servers do it).
- The password: `password`, `password_env` (an environment variable) or `password_file` (its
  first line); it is never put into a message, a log line or the health file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..i18n import Catalog
from .connector import ConfigurationProblem

log = logging.getLogger(__name__)
OPCUA = Catalog("opcua")
APPLICATION_URI = "urn:factory-commons:collector"
POLICIES = ("None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
MODES = ("Sign", "SignAndEncrypt")
CERT_DAYS = 5 * 365
MODE_REJECTED = ("BadSecurityModeRejected", "BadSecurityPolicyRejected")
# answers that mean the server did not accept our certificate
OUR_CERT_REFUSED = (
    "BadSecurityChecksFailed",
    "BadCertificateUntrusted",
    "BadCertificateInvalid",
    "BadCertificateUriInvalid",
    "BadCertificateUseNotAllowed",
    "BadCertificateRevoked",
    "BadCertificateTimeInvalid",
)


def opcua_text(key: str, **values: Any) -> str:
    """A text of the `opcua` catalog, English first then Korean, `{name}` fields filled."""
    en, ko = OPCUA.get(key, "en"), OPCUA.get(key, "ko")
    text = en if en == ko else f"{en} / {ko}"
    return text.format(**values) if values else text


class SecurityProblem(ConfigurationProblem):
    """Security settings that cannot work until someone changes them (not retried)."""


@dataclass
class Security:
    """How to secure one OPC UA connection; see the module docstring."""

    policy: str = "None"
    mode: str = "SignAndEncrypt"
    cert_file: str | None = None
    key_file: str | None = None
    pki_dir: str | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise SecurityProblem(opcua_text("unknown_policy", policy=self.policy, known=", ".join(POLICIES)))
        if self.mode not in MODES:
            raise SecurityProblem(opcua_text("unknown_mode", mode=self.mode, known=", ".join(MODES)))

    @property
    def secured(self) -> bool:
        return self.policy != "None"

    @property
    def pki(self) -> Path:
        return Path(self.pki_dir or "opcua-pki")

    def describe(self) -> str:
        return "None" if not self.secured else f"{self.policy} {self.mode}"


def read_password(password: str | None, env: str | None, file: str | None, where: str) -> str | None:
    """The password from the configuration, an environment variable or a file's first line."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise SecurityProblem(f"{where}: {opcua_text('password_env_missing', env=env)}")
        return value
    if file:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise SecurityProblem(
                f"{where}: {opcua_text('password_file_unreadable', file=file, error=type(e).__name__)}"
            ) from None
        return lines[0] if lines else ""
    return password


def thumbprint(der: bytes) -> str:
    """The SHA-1 thumbprint OPC UA tools show for a certificate (hex, upper case)."""
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - an identifier, as OPC UA defines it


def own_certificate(security: Security) -> tuple[Path, Path]:
    """Our certificate and key: the configured files, else those in `<pki>/own/`, generated
    on first use."""
    if security.cert_file and security.key_file:
        return Path(security.cert_file), Path(security.key_file)
    own = security.pki / "own"
    cert, key = own / "cert.der", own / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    from asyncua.crypto.cert_gen import generate_private_key, generate_self_signed_app_certificate
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    host = socket.gethostname()
    private = generate_private_key()
    certificate = generate_self_signed_app_certificate(
        private,
        "factory-commons collector",
        {"organizationName": "factory-commons"},
        [x509.UniformResourceIdentifier(APPLICATION_URI), x509.DNSName(host)],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
        days=CERT_DAYS,
    )
    own.mkdir(parents=True, exist_ok=True)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    der = certificate.public_bytes(serialization.Encoding.DER)
    cert.write_bytes(der)
    log.warning("%s", opcua_text("cert_generated", cert=cert, thumbprint=thumbprint(der)))
    return cert, key


def _der(path: Path) -> bytes | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    except (OSError, ValueError):
        return None


def check_trusted(security: Security, der: bytes, endpoint: str) -> None:
    """Refuse a server certificate not in `<pki>/trusted/`; keep it in `rejected/` to trust it."""
    trusted = security.pki / "trusted"
    if trusted.is_dir():
        for path in sorted(trusted.iterdir()):
            if path.is_file() and _der(path) == der:
                return
    rejected = security.pki / "rejected"
    rejected.mkdir(parents=True, exist_ok=True)
    trusted.mkdir(parents=True, exist_ok=True)
    thumb = thumbprint(der)
    kept = rejected / f"{thumb}.der"
    kept.write_bytes(der)
    raise SecurityProblem(
        opcua_text("server_untrusted", endpoint=endpoint, thumbprint=thumb, rejected=kept, trusted=trusted)
    )


async def apply(client: Any, security: Security, endpoint: str) -> None:
    """Set up `client` (an asyncua Client, not connected) for `security`; fetch the server's
    certificate from its endpoints and check it is trusted. Call before `client.connect()`."""
    if not security.secured:
        return
    from asyncua import ua
    from asyncua.crypto import security_policies

    client.application_uri = APPLICATION_URI
    cert, key = own_certificate(security)
    policy = getattr(security_policies, f"SecurityPolicy{security.policy}")
    mode = getattr(ua.MessageSecurityMode, security.mode)
    endpoints = await client.connect_and_get_server_endpoints()
    match = next(
        (ep for ep in endpoints if ep.SecurityMode == mode and ep.SecurityPolicyUri == policy.URI), None
    )
    if match is None:
        raise _not_offered(security, endpoint, endpoints)
    from asyncua.client.client import _first_cert_from_chain

    server_der = _first_cert_from_chain(match.ServerCertificate)
    check_trusted(security, server_der, endpoint)
    try:
        await client.set_security(policy, str(cert), str(key), server_certificate=server_der, mode=mode)
    except (OSError, ValueError) as e:
        raise SecurityProblem(
            opcua_text("own_cert_unreadable", cert=cert, key=key, error=f"{type(e).__name__}: {e}")
        ) from None


def _not_offered(security: Security, endpoint: str, endpoints: list[Any]) -> SecurityProblem:
    from asyncua import ua
    from asyncua.crypto import security_policies

    # the names as they are written in plant.toml (the URI says Aes128_Sha256_RsaOaep)
    names = {getattr(security_policies, f"SecurityPolicy{name}").URI: name for name in POLICIES[1:]}
    offered = {
        f"{names.get(ep.SecurityPolicyUri, ep.SecurityPolicyUri.rpartition('#')[2])} {ep.SecurityMode.name}"
        for ep in endpoints
        if ep.EndpointUrl.startswith(ua.OPC_TCP_SCHEME)
    }
    offered = {"None" if text.startswith("None ") else text for text in offered}
    listed = ", ".join(sorted(offered)) or "-"
    return SecurityProblem(
        opcua_text("policy_not_offered", wanted=security.describe(), endpoint=endpoint, offered=listed)
    )


async def unsecured_refused(client: Any, security: Security, endpoint: str, error: Exception) -> None:
    """Raise a `SecurityProblem` naming what the server offers if `error` says our policy or
    mode is not one it takes: asyncua's "No matching endpoints" (asyncua's server) or
    BadSecurityModeRejected / BadSecurityPolicyRejected (node-opcua)."""
    if "No matching endpoints" not in str(error) and type(error).__name__ not in MODE_REJECTED:
        return
    try:
        endpoints = await client.connect_and_get_server_endpoints()
    except Exception:  # noqa: BLE001 - the original error says enough then
        return
    raise _not_offered(security, endpoint, endpoints) from None


def our_cert_refused(security: Security, status: str) -> str:
    """The message for a server that refused our certificate."""
    cert, _ = own_certificate(security)
    return opcua_text("our_cert_refused", status=status, cert=cert)
