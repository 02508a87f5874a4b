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
for reason in ("Issue", "SpecChanged", "CARotated", "Renew"):
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
