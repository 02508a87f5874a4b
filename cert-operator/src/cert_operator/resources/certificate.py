"""CertConfig step: a certificate from the cluster's CA, kept in a ``kubernetes.io/tls`` Secret.

Issued when missing, re-issued when the spec changed or the renew-before window is reached; the replaced serial
is revoked once its successor is stored. On deletion the serial is revoked and the Secret removed. Private keys
go from Vault's answer straight into the Secret: never into logs, Events or status.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cert_operator import key, metrics, pem
from cert_operator.spec import CA_CONFIG, CertConfigSpec, CertConfigStatus, seconds
from cert_operator.vault import VaultRefused
from operatorkit import READY, CancelReconcile, Object, Resource, TerminalError, get_condition, is_true
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from cryptography import x509

    from cert_operator.spec import CertContext
    from cert_operator.vault import Vault


def spec_hash(spec: CertConfigSpec) -> str:
    relevant = spec.model_dump(mode="json", by_alias=True, exclude={"renew_before", "secret_name"})
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _decoded(secret: Object, field: str) -> str:
    return base64.b64decode(secret["data"][field]).decode()


@dataclass
class Certificate(Resource[CertConfigSpec, CertConfigStatus]):
    vault: Vault

    def _cluster_ca(self, ctx: CertContext) -> tuple[x509.Certificate, str, str]:
        """The active CA certificate, its serial and the trust bundle of the cluster's Ready CAConfig, which must
        define the role; CAConfig changes re-trigger this check."""
        spec = ctx.spec
        cas = [
            ca
            for ca in ctx.cache(CA_CONFIG).objects()
            if ca["metadata"].get("namespace") == ctx.namespace
            and ca.get("spec", {}).get("clusterID") == spec.cluster_id
        ]
        if not cas:
            ctx.set_condition(READY, "False", "WaitingForCA", f"no CAConfig for cluster {spec.cluster_id}")
            raise CancelReconcile
        if not is_true(cas[0].get("status"), READY) or not cas[0]["status"].get("ca"):
            why = get_condition(cas[0].get("status"), READY) or {}
            ctx.set_condition(
                READY,
                "False",
                "WaitingForCA",
                f"CAConfig {cas[0]['metadata']['name']} is not Ready"
                + (f": {why.get('reason')}: {why.get('message')}" if why else ""),
            )
            raise CancelReconcile
        status = cas[0]["status"]
        roles = status.get("roles", [])
        if spec.role not in roles:
            raise TerminalError(
                f"role {spec.role!r} is not defined in CAConfig {cas[0]['metadata']['name']} "
                f"(roles: {', '.join(roles) or 'none'})",
                reason="UnknownRole",
            )
        active = status["ca"]["certificate"]
        return pem.load(active), status["ca"]["serial"], status.get("trustBundle") or pem.bundle([active])

    def ensure_created(self, ctx: CertContext) -> None:
        spec = ctx.spec
        active_ca, active_serial, trust = self._cluster_ca(ctx)
        name = spec.secret_name or ctx.name
        secret = ctx.cache(SECRET).get_by_name(name, ctx.namespace)
        wanted = spec_hash(spec)
        current = self._current(secret)
        if secret is None or current is None:
            reason: str | None = "Issue"
        elif secret["metadata"].get("annotations", {}).get(key.SPEC_HASH_ANNOTATION) != wanted:
            reason = "SpecChanged"
        elif not pem.issued_by(current, active_ca):
            reason = "CARotated"
        elif pem.now() >= current.not_valid_after_utc - datetime.timedelta(seconds=spec.renew_before_seconds):
            reason = "Renew"
        else:
            reason = None
        if reason is not None:
            ctx.set_condition("Issuing", "True", reason, f"issuing from role {spec.role}")
            replaced = pem.serial_hex(current) if current is not None else None
            current = self._issue(ctx, name, wanted, reason, trust)
            if replaced and replaced != pem.serial_hex(current):
                self._revoke(ctx, spec.cluster_id, replaced)
        elif secret is not None and _decoded(secret, "ca.crt") != trust:
            self._write_secret(
                ctx,
                name,
                secret["metadata"].get("annotations", {}),
                _decoded(secret, "tls.crt"),
                _decoded(secret, "tls.key"),
                trust,
            )
            ctx.event("Normal", "TrustUpdated", "ca.crt now holds the cluster's current trust bundle")
        assert current is not None
        renew_at = current.not_valid_after_utc - datetime.timedelta(seconds=spec.renew_before_seconds)
        ctx.set_condition("Issuing", "False", "Issued", "")
        ctx.status.update(
            {
                "clusterID": spec.cluster_id,
                "secretName": name,
                "serial": pem.serial_hex(current),
                "notBefore": pem.rfc3339(current.not_valid_before_utc),
                "notAfter": pem.rfc3339(current.not_valid_after_utc),
                "nextRenewal": pem.rfc3339(renew_at),
                "caSerial": active_serial,
                "trustBundleHash": pem.bundle_hash(trust),
            }
        )
        metrics.expiry_timestamp.labels(ctx.namespace or "", ctx.name, spec.cluster_id).set(
            current.not_valid_after_utc.timestamp()
        )
        ctx.requeue_after(max(1.0, (renew_at - pem.now()).total_seconds()))

    def _current(self, secret: Object | None) -> x509.Certificate | None:
        try:
            return pem.load(_decoded(secret, "tls.crt")) if secret else None
        except (KeyError, ValueError):
            return None  # damaged: issue again

    def _issue(self, ctx: CertContext, name: str, wanted: str, reason: str, trust: str) -> x509.Certificate:
        spec = ctx.spec
        params: dict[str, Any] = {"ttl": f"{seconds(spec.ttl)}s", "format": "pem", "private_key_format": "pem"}
        if spec.alt_names:
            params["alt_names"] = ",".join(spec.alt_names)
        if spec.ip_sans:
            params["ip_sans"] = ",".join(str(ip) for ip in spec.ip_sans)
        if spec.organizations:
            params["organization"] = ",".join(spec.organizations)  # honoured where the role allows it
        issued = self.vault.call(
            f"issue from role {spec.role}",
            lambda c: c.secrets.pki.generate_certificate(
                spec.role, spec.common_name, extra_params=params, mount_point=key.mount(spec.cluster_id)
            ),
        )["data"]
        cert = pem.load(issued["certificate"])
        annotations = {
            key.SPEC_HASH_ANNOTATION: wanted,
            key.SERIAL_ANNOTATION: pem.serial_hex(cert),
            key.ISSUED_AT_ANNOTATION: pem.rfc3339(pem.now()),
        }
        if issued["issuing_ca"].strip() not in trust:  # issued while the CA was switched: trust it too
            trust = pem.bundle([issued["issuing_ca"], *pem.split(trust)])
        self._write_secret(ctx, name, annotations, issued["certificate"], issued["private_key"], trust)
        metrics.issued_total.labels(spec.cluster_id, reason).inc()
        ctx.event(
            "Normal",
            "Issued" if reason == "Issue" else "Renewed",
            f"certificate {pem.serial_hex(cert)} for {spec.common_name!r}, valid until "
            f"{pem.rfc3339(cert.not_valid_after_utc)} ({reason})",
        )
        return cert

    def _write_secret(
        self, ctx: CertContext, name: str, annotations: dict[str, str], crt: str, private_key: str, trust: str
    ) -> None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": name,
                "namespace": ctx.namespace,
                "labels": key.labels(ctx.spec.cluster_id),
                "annotations": {k: v for k, v in annotations.items() if k.startswith("kubeception.io/")},
            },
            "stringData": {"tls.crt": crt.strip() + "\n", "tls.key": private_key.strip() + "\n", "ca.crt": trust},
        }
        ctx.create_or_apply(SECRET, secret)

    def _revoke(self, ctx: CertContext, cluster: str, serial: str) -> None:
        """Revoke ``serial``. A serial Vault does not know (its mount was recreated, or it is already revoked and
        tidied) has nothing left to revoke: that is said in an Event, and must not hold anything up."""
        try:
            self.vault.call(
                f"revoke {serial}", lambda c: c.secrets.pki.revoke_certificate(serial, mount_point=key.mount(cluster))
            )
        except VaultRefused as exc:
            ctx.event("Warning", "NotRevoked", str(exc))
            return
        metrics.revocations_total.labels(cluster).inc()
        ctx.event("Normal", "Revoked", f"revoked certificate {serial}")

    def ensure_deleted(self, ctx: CertContext) -> None:
        recorded = ctx.recorded
        if recorded.serial and recorded.cluster_id:
            self._revoke(ctx, recorded.cluster_id, recorded.serial)
        if recorded.secret_name:
            ctx.client.delete(SECRET, recorded.secret_name, ctx.namespace)
        with contextlib.suppress(KeyError):
            metrics.expiry_timestamp.remove(ctx.namespace or "", ctx.name, recorded.cluster_id or "")
