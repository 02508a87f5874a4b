"""CertConfig step: a certificate from the cluster's CA, kept in a ``kubernetes.io/tls`` Secret.

Issued when missing, re-issued when the spec changed, the CA rotated or the renew-before window is reached —
never more often than the minimum re-issue interval. Before anything is issued the target Secret must be this
CertConfig's (or absent, or inviting adoption) and the TTL within what the role and the CA allow, so a request
that cannot end well costs Vault nothing. Nothing issued is left unstored: a certificate whose Secret write
fails is revoked at once, and a serial that cannot be revoked yet (Vault unreachable) is kept in
``status.pendingRevocations`` until it is. The replaced serial is revoked once its successor is stored; a
renamed ``secretName`` moves the certificate and deletes the old Secret.

Ready means the stored certificate is valid now, was signed by the cluster's active CA and says everything that
was asked for (common name, DNS and IP SANs, organizations). Private keys go from Vault's answer straight into
the Secret: never into logs, Events or status.
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
from cert_operator.spec import CAConfigSpec, CertConfigSpec, CertConfigStatus, seconds
from cert_operator.vault import VaultRefused, VaultUnavailable
from guestkit import CA_CONFIG
from operatorkit import READY, CancelReconcile, Object, Resource, TerminalError, get_condition, is_true, timestamps
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from cryptography import x509

    from cert_operator.spec import CertContext
    from cert_operator.vault import Vault


def spec_hash(spec: CertConfigSpec) -> str:
    relevant = spec.model_dump(mode="json", by_alias=True, exclude={"renew_before", "secret_name"})
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _not_ready(ca: Object) -> str:
    condition = get_condition(ca.get("status"), READY)
    why = f": {condition.get('reason')}: {condition.get('message')}" if condition else ""
    return f"CAConfig {ca['metadata']['name']} is not Ready{why}"


def _decoded(secret: Object, field: str) -> str:
    return base64.b64decode(secret["data"][field]).decode()


@dataclass(frozen=True)
class ClusterCA:
    """What a certificate needs from its cluster's CAConfig."""

    config: Object
    spec: CAConfigSpec
    certificate: x509.Certificate
    serial: str
    trust: str


@dataclass
class Certificate(Resource[CertConfigSpec, CertConfigStatus]):
    vault: Vault
    min_reissue_interval: float = 10.0
    """Seconds between two issuances for one CertConfig, whatever asks (a floor: Vault's work stays bounded)."""

    # -- the cluster's CA ----------------------------------------------------------------------------------------
    def _cluster_ca(self, ctx: CertContext) -> ClusterCA:
        """The cluster's Ready CAConfig in this namespace — the one holding the mount — which must define the role;
        CAConfig changes re-trigger this check."""
        spec = ctx.spec
        cas = [
            ca
            for ca in ctx.cache(CA_CONFIG).by_index(key.CLUSTER_INDEX, spec.cluster_id)
            if ca["metadata"].get("namespace") == ctx.namespace
        ]
        ready = [ca for ca in cas if is_true(ca.get("status"), READY) and (ca.get("status") or {}).get("ca")]
        if not ready:
            why = (
                "; ".join(
                    f"CAConfig {ca['metadata']['name']} is not Ready"
                    + (
                        f": {c.get('reason')}: {c.get('message')}"
                        if (c := get_condition(ca.get("status"), READY))
                        else ""
                    )
                    for ca in cas
                )
                or f"no CAConfig for cluster {spec.cluster_id}"
            )
            ctx.set_condition(READY, "False", "WaitingForCA", why)
            raise CancelReconcile
        config, status = ready[0], ready[0]["status"]
        roles = status.get("roles", [])
        if spec.role not in roles:
            raise TerminalError(
                f"role {spec.role!r} is not defined in CAConfig {config['metadata']['name']} "
                f"(roles: {', '.join(roles) or 'none'})",
                reason="UnknownRole",
            )
        active = status["ca"]["certificate"]
        return ClusterCA(
            config,
            CAConfigSpec.model_validate(config["spec"]),
            pem.load(active),
            status["ca"]["serial"],
            status.get("trustBundle") or pem.bundle([active]),
        )

    @staticmethod
    def _check_ttl(spec: CertConfigSpec, ca: ClusterCA) -> None:
        """A TTL the issuer would not honour is refused before anything is issued (Vault would cut it, and a
        certificate shorter than asked would be renewed again and again)."""
        ttl = seconds(spec.ttl)
        role = ca.spec.role(spec.role)
        if role is not None and role.max_ttl is not None and ttl > seconds(role.max_ttl):
            raise TerminalError(
                f"ttl {spec.ttl} is longer than role {spec.role}'s maxTTL {role.max_ttl}", reason="TTLTooLong"
            )
        if timestamps.now() + datetime.timedelta(seconds=ttl) > ca.certificate.not_valid_after_utc:
            raise TerminalError(
                f"ttl {spec.ttl} would outlive the cluster's CA (valid until "
                f"{timestamps.stamp(ca.certificate.not_valid_after_utc)}); rotate the CA or ask for less",
                reason="TTLTooLong",
            )

    # -- the reconcile -------------------------------------------------------------------------------------------
    def ensure_created(self, ctx: CertContext) -> None:
        spec = ctx.spec
        self._revoke_pending(ctx, spec.cluster_id)
        ca = self._cluster_ca(ctx)
        self._check_ttl(spec, ca)
        name = spec.secret_name or ctx.name
        secret = ctx.lookup(SECRET, name, ctx.namespace)
        if secret is not None:
            ctx.check_owned(SECRET, secret)  # before anything is issued for it
        wanted = spec_hash(spec)
        current = self._current(secret)
        reason = self._why_issue(ctx, secret, current, wanted, ca)
        deferred: str | None = None
        if reason is not None and (wait := self._too_soon(ctx)) > 0:
            ctx.set_condition("Issuing", "True", "Deferred", f"{reason}: next issuance allowed in {wait:.0f} s")
            metrics.reissue_deferred_total.labels(spec.cluster_id).inc()
            ctx.requeue_after(wait)
            deferred, reason = reason, None
        if reason is not None:
            ctx.set_condition("Issuing", "True", reason, f"issuing from role {spec.role}")
            # Replaced: what the Secret held, and what the status recorded (a deleted or renamed Secret's).
            replaced = {pem.serial_hex(current)} if current is not None else set()
            replaced |= {ctx.recorded.serial} if ctx.recorded.serial else set()
            current = self._issue(ctx, name, wanted, reason, ca.trust)
            for serial in sorted(replaced - {pem.serial_hex(current)}):
                self._revoke_or_remember(ctx, spec.cluster_id, serial)
            ctx.set_condition("Issuing", "False", "Issued", "")
        elif secret is not None and current is not None and _decoded(secret, "ca.crt") != ca.trust:
            annotations = secret["metadata"].get("annotations", {})
            self._write_secret(
                ctx, name, annotations, _decoded(secret, "tls.crt"), _decoded(secret, "tls.key"), ca.trust
            )
            ctx.event("Normal", "TrustUpdated", "ca.crt now holds the cluster's current trust bundle")
        if current is None:
            self._missing(ctx, name)  # only when deferred
            return
        self._moved(ctx, name)
        self._record(ctx, name, current, ca)
        if deferred in (None, "Renew"):
            self._ready(ctx, current, ca)  # a certificate due for renewal is still the requested one
        else:
            ctx.set_condition(READY, "False", "ReissuePending", f"{deferred}: a new certificate follows shortly")

    @staticmethod
    def _missing(ctx: CertContext, name: str) -> None:
        """No certificate stored and the retry waits for the re-issue floor. The last attempt's failure (say, an
        admission policy refusing the Secret) stays the condition: it is what a person must fix."""
        last = get_condition(ctx.status, READY)
        if last is not None and last.get("status") == "False" and last.get("reason") not in ("SecretMissing", None):
            ctx.set_condition(READY, "False", str(last["reason"]), str(last.get("message", "")))
            return
        ctx.set_condition(READY, "False", "SecretMissing", f"Secret {name} holds no certificate; issuing again soon")

    def _why_issue(
        self, ctx: CertContext, secret: Object | None, current: x509.Certificate | None, wanted: str, ca: ClusterCA
    ) -> str | None:
        if secret is None or current is None:
            return "Issue"
        if secret["metadata"].get("annotations", {}).get(key.SPEC_HASH_ANNOTATION) != wanted:
            return "SpecChanged"
        if not pem.issued_by(current, ca.certificate):
            return "CARotated"
        if timestamps.now() >= self._renew_at(ctx.spec, current):
            return "Renew"
        return None

    @staticmethod
    def _renew_at(spec: CertConfigSpec, cert: x509.Certificate) -> datetime.datetime:
        """When to renew: renew-before ahead of notAfter, but never before a third of the certificate's real
        lifetime has passed (a certificate shorter than asked must not be renewed the moment it is issued)."""
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return max(
            cert.not_valid_after_utc - datetime.timedelta(seconds=spec.renew_before_seconds),
            cert.not_valid_before_utc + lifetime / 3,
        )

    def _too_soon(self, ctx: CertContext) -> float:
        """Seconds until this CertConfig may be issued a certificate again (0: now)."""
        if not ctx.recorded.issued_at:
            return 0.0
        since = (timestamps.now() - timestamps.parse(ctx.recorded.issued_at)).total_seconds()
        return max(0.0, self.min_reissue_interval - since)

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
        serial = pem.serial_hex(cert)
        annotations = {
            key.SPEC_HASH_ANNOTATION: wanted,
            key.SERIAL_ANNOTATION: serial,
            key.ISSUED_AT_ANNOTATION: timestamps.stamp(timestamps.now()),
        }
        if issued["issuing_ca"].strip() not in trust:  # issued while the CA was switched: trust it too
            trust = pem.bundle([issued["issuing_ca"], *pem.split(trust)])
        ctx.status.issued_at = timestamps.stamp(timestamps.now())
        try:
            self._write_secret(ctx, name, annotations, issued["certificate"], issued["private_key"], trust)
        except Exception:
            self._revoke_or_remember(ctx, spec.cluster_id, serial)  # nothing issued that is not stored
            raise
        metrics.issued_total.labels(spec.cluster_id, reason).inc()
        ctx.event(
            "Normal",
            "Issued" if reason == "Issue" else "Renewed",
            f"certificate {serial} for {spec.common_name!r}, valid until {timestamps.stamp(cert.not_valid_after_utc)} "
            f"({reason})",
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

    def _moved(self, ctx: CertContext, name: str) -> None:
        """A renamed secretName: the certificate now lives in ``name``; the old Secret goes (its serial was
        replaced and revoked when the certificate was issued into the new one)."""
        old = ctx.recorded.secret_name
        if old and old != name and ctx.delete_owned(SECRET, old, ctx.namespace):
            ctx.event("Normal", "SecretMoved", f"certificate moved from Secret {old} to {name}")

    def _record(self, ctx: CertContext, name: str, current: x509.Certificate, ca: ClusterCA) -> None:
        renew_at = max(self._renew_at(ctx.spec, current), timestamps.now() + datetime.timedelta(seconds=1))
        status = ctx.status
        status.cluster_id, status.secret_name, status.serial = ctx.spec.cluster_id, name, pem.serial_hex(current)
        status.not_before = timestamps.stamp(current.not_valid_before_utc)
        status.not_after = timestamps.stamp(current.not_valid_after_utc)
        status.next_renewal, status.ca_serial = timestamps.stamp(renew_at), _issuer_serial(current, ca)
        status.trust_bundle_hash = pem.bundle_hash(ca.trust)
        metrics.expiry_timestamp.labels(ctx.namespace or "", ctx.name, ctx.spec.cluster_id).set(
            current.not_valid_after_utc.timestamp()
        )
        ctx.requeue_after(max(1.0, (renew_at - timestamps.now()).total_seconds()))

    def _ready(self, ctx: CertContext, current: x509.Certificate, ca: ClusterCA) -> None:
        """Ready from what the stored certificate says, checked against the spec, the clock and the CA."""
        spec, now = ctx.spec, timestamps.now()
        problems = pem.differences(
            current, spec.common_name, spec.alt_names, [str(ip) for ip in spec.ip_sans], spec.organizations
        )
        if not current.not_valid_before_utc <= now < current.not_valid_after_utc:
            problems.append(
                f"not valid now (valid {timestamps.stamp(current.not_valid_before_utc)} to "
                f"{timestamps.stamp(current.not_valid_after_utc)})"
            )
        if not pem.issued_by(current, ca.certificate):
            problems.append("not signed by the cluster's active CA")
        if problems:
            # Issuing again would give the same answer: say so, and wait for the spec (or the role) to change.
            raise TerminalError(
                f"certificate {pem.serial_hex(current)}: {'; '.join(problems)}", reason="NotAsRequested"
            )
        ctx.set_condition(
            READY,
            "True",
            "Valid",
            f"certificate {pem.serial_hex(current)} valid until {timestamps.stamp(current.not_valid_after_utc)}, "
            "signed by the cluster's CA, with every requested name",
        )

    # -- revocation ----------------------------------------------------------------------------------------------
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

    def _revoke_or_remember(self, ctx: CertContext, cluster: str, serial: str) -> None:
        """Revoke now, or keep the serial in status to revoke before anything else next time."""
        try:
            self._revoke(ctx, cluster, serial)
        except VaultUnavailable:
            pending = ctx.status.pending_revocations or []
            if serial not in pending:
                ctx.status.pending_revocations = [*pending, serial]

    def _revoke_pending(self, ctx: CertContext, cluster: str) -> None:
        for serial in list(ctx.status.pending_revocations or []):
            self._revoke(ctx, cluster, serial)  # raises while Vault is unreachable: nothing new is issued
            ctx.status.pending_revocations = [p for p in ctx.status.pending_revocations or [] if p != serial]
        if not ctx.status.pending_revocations:
            ctx.status.pending_revocations = None  # none left: the field goes

    def ensure_deleted(self, ctx: CertContext) -> None:
        recorded = ctx.recorded
        if recorded.cluster_id:
            self._revoke_pending(ctx, recorded.cluster_id)
            if recorded.serial:
                self._revoke(ctx, recorded.cluster_id, recorded.serial)
        if recorded.secret_name:
            ctx.delete_owned(SECRET, recorded.secret_name, ctx.namespace)
        with contextlib.suppress(KeyError):
            metrics.expiry_timestamp.remove(ctx.namespace or "", ctx.name, recorded.cluster_id or "")


def _issuer_serial(current: x509.Certificate, ca: ClusterCA) -> str | None:
    """The serial of the trusted CA that really signed ``current``: during a rotation a re-issue can be deferred,
    and the rotation must not take the CAConfig's new CA for the one the stored certificate carries."""
    if pem.issued_by(current, ca.certificate):
        return ca.serial
    signers = (pem.load(trusted) for trusted in pem.split(ca.trust))
    return next((pem.serial_hex(signer) for signer in signers if pem.issued_by(current, signer)), None)
