"""Reading certificates: serials, validity, fingerprints (never private keys)."""

from __future__ import annotations

import hashlib
import ipaddress

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

ORGANIZATION = NameOID.ORGANIZATION_NAME


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def serial_hex(cert: x509.Certificate) -> str:
    """Vault's serial format: colon-separated lower-case hex pairs."""
    raw = f"{cert.serial_number:x}"
    raw = raw if len(raw) % 2 == 0 else f"0{raw}"
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def bundle(certificates: list[str]) -> str:
    """PEM certificates as one trust bundle (the order is kept: the active CA first)."""
    return "".join(c.strip() + "\n" for c in certificates)


def bundle_hash(pem_bundle: str) -> str:
    """A short fingerprint of a trust bundle: CertConfigs report which bundle their Secret carries."""
    return hashlib.sha256(pem_bundle.encode()).hexdigest()[:16]


def split(pem_bundle: str) -> list[str]:
    """A trust bundle → its PEM certificates."""
    marker = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + marker for part in pem_bundle.split(marker) if part.strip()]


def issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``leaf`` (names alone would not tell two CAs with the same common name apart)."""
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def differences(cert: x509.Certificate, common_name: str, dns: list[str], ips: list[str], orgs: list[str]) -> list[str]:
    """What ``cert`` does not say that was asked for: common name, DNS and IP SANs, organizations."""
    subject = cert.subject
    found_cn = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    found_orgs = {str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)}
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found_dns = set(sans.get_values_for_type(x509.DNSName))
        found_ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    except x509.ExtensionNotFound:
        found_dns, found_ips = set(), set()
    problems = []
    if found_cn != [common_name]:
        problems.append(f"common name {found_cn or 'none'} instead of {common_name!r}")
    if missing := sorted(set(dns) - found_dns):
        problems.append(f"DNS names missing: {', '.join(missing)}")
    if missing := sorted({str(ipaddress.ip_address(ip)) for ip in ips} - found_ips):
        problems.append(f"IP addresses missing: {', '.join(missing)}")
    if missing := sorted(set(orgs) - found_orgs):
        problems.append(f"organizations missing: {', '.join(missing)}")
    return problems
