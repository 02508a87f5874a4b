"""Certificate metrics: expiry per certificate (for the "not renewed" alert), issuance, Vault errors."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

expiry_timestamp = Gauge(
    "kubeception_certificate_expiry_timestamp_seconds",
    "notAfter of the current certificate",
    ["namespace", "name", "cluster"],
)
issued_total = Counter("kubeception_certificates_issued_total", "Certificates issued, by why", ["cluster", "reason"])
revocations_total = Counter("kubeception_certificate_revocations_total", "Certificates revoked", ["cluster"])
for reason in ("Issue", "SpecChanged", "CARotated", "Renew", "GuestCredential"):
    issued_total.labels("", reason)
vault_errors_total = Counter(
    "kubeception_vault_errors_total", "Failed Vault calls: refused (bad input), forbidden, unavailable, login", ["kind"]
)
vault_auth_total = Counter(
    "kubeception_vault_auth_total", "Vault logins and token renewals, by result", ["action", "result"]
)
for kind in ("refused", "forbidden", "unavailable", "login"):
    vault_errors_total.labels(kind)
for action in ("login", "renew"):
    for result in ("ok", "error"):
        vault_auth_total.labels(action, result)
reissue_deferred_total = Counter(
    "kubeception_certificate_reissue_deferred_total",
    "Issuances held back by the minimum re-issue interval (something asks for certificates too often)",
    ["cluster"],
)
reissue_deferred_total.labels("")
ca_lost = Gauge(
    "kubeception_ca_lost",
    "1 while a CAConfig's recorded CA is missing from Vault (lost state: reported, never silently recreated)",
    ["namespace", "name", "serial"],
)


def clear_ca_lost(namespace: str, name: str) -> None:
    """The CA is back (or was recreated on request): drop the series of this CAConfig."""
    for labels in list(ca_lost._metrics):
        if labels[:2] == (namespace, name):
            ca_lost.remove(*labels)
