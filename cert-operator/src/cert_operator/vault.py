"""Vault (or OpenBao) access for the cert-operator: one hvac client, errors mapped to conditions.

Vault's 4xx answers are bad input (unknown role, a name the role does not allow, a TTL above the CA's): they
become terminal errors carrying Vault's own reason, so the object shows why and nothing retries in a storm.
Connection problems and 5xx are retried with backoff, and nothing already issued is touched meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

import hvac
import hvac.exceptions
import requests

from cert_operator import metrics, pem
from operatorkit import ReconcileError, TerminalError, timestamps

if TYPE_CHECKING:
    from collections.abc import Callable

    from cert_operator.vault_auth import Login, VaultAuth

T = TypeVar("T")
log = logging.getLogger(__name__)


class VaultUnavailable(ReconcileError):
    reason = "VaultUnavailable"


class VaultRefused(TerminalError):
    reason = "VaultRefused"


def vault_message(exc: hvac.exceptions.VaultError) -> str:
    errors = getattr(exc, "errors", None) or [str(exc)]
    return "; ".join(str(e) for e in errors).strip() or type(exc).__name__


def vault_message_or_text(exc: Exception) -> str:
    return vault_message(exc) if isinstance(exc, hvac.exceptions.VaultError) else str(exc)


class Vault:
    """One hvac client shared by the workers; the token is obtained through ``auth``, renewed when two thirds of
    its TTL have passed, and replaced by a new login when renewal stops helping (max TTL) or Vault rejects it."""

    def __init__(self, address: str, auth: VaultAuth, *, ca_cert: str | None = None, timeout: float = 10) -> None:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        # On the session, not only hvac's verify=: hvac takes a session's own verify (True, the system's trust store,
        # on a new session) over the one it is given.
        session.verify = ca_cert or True
        self.address = address
        self._auth = auth
        self._client = hvac.Client(url=address, session=session, timeout=timeout, verify=session.verify)
        self._lock = threading.Lock()
        self._login: Login | None = None
        self._renew_at: float | None = None
        self._expires_at: float | None = None
        self._logins = 0

    def call(self, what: str, operation: Callable[[hvac.Client], T]) -> T:
        """Run ``operation``; map Vault's refusals and outages to the operator's errors."""
        try:
            self._ensure_token()
            logins = self._logins
            try:
                return operation(self._client)
            except hvac.exceptions.Forbidden:
                if not self._auth.can_login_again:
                    raise
                self._ensure_token(force_unless_logins=logins)  # revoked or expired early: one new login, one retry
                return operation(self._client)
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath) as exc:
            metrics.vault_errors_total.labels("refused").inc()
            raise VaultRefused(f"{what}: Vault refused: {vault_message(exc)}") from exc
        except hvac.exceptions.Forbidden as exc:
            metrics.vault_errors_total.labels("forbidden").inc()
            raise VaultUnavailable(
                f"{what}: permission denied by Vault: {vault_message(exc)}", reason="VaultForbidden"
            ) from exc
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            metrics.vault_errors_total.labels("unavailable").inc()
            raise VaultUnavailable(f"{what}: {exc}") from exc

    # -- the token ---------------------------------------------------------------------------------------------
    def _ensure_token(self, *, force_unless_logins: int | None = None) -> None:
        """A valid token; with ``force_unless_logins``, a new one unless another worker has logged in since."""
        with self._lock:
            now = time.monotonic()
            if self._login is None or force_unless_logins == self._logins:
                self._log_in()
            elif self._expires_at is not None and now >= self._expires_at - 1:
                self._log_in()  # expired while idle: renewing is no longer possible
            elif self._renew_at is not None and now >= self._renew_at:
                self._renew()

    def _renew(self) -> None:
        assert self._login is not None
        if self._login.renewable:
            try:
                ttl = int(self._client.auth.token.renew_self()["auth"]["lease_duration"])
            except (hvac.exceptions.VaultError, requests.RequestException) as exc:
                metrics.vault_auth_total.labels("renew", "error").inc()
                log.warning("Vault token renewal failed (%s): logging in again", vault_message_or_text(exc))
            else:
                metrics.vault_auth_total.labels("renew", "ok").inc()
                if ttl * 2 >= self._login.ttl or not self._auth.can_login_again:
                    self._schedule(ttl)
                    return
        self._log_in()  # not renewable, or close to its max TTL

    def _log_in(self) -> None:
        try:
            self._login = self._auth.login(self._client)
        except (hvac.exceptions.VaultError, requests.RequestException, OSError) as exc:
            metrics.vault_auth_total.labels("login", "error").inc()
            metrics.vault_errors_total.labels("login").inc()
            reason = "VaultUnavailable" if isinstance(exc, requests.RequestException) else "VaultLoginFailed"
            raise VaultUnavailable(
                f"Vault login ({self._auth.name}) failed: {vault_message_or_text(exc)}", reason=reason
            ) from exc
        self._client.token = self._login.token
        self._logins += 1
        metrics.vault_auth_total.labels("login", "ok").inc()
        self._schedule(self._login.ttl)

    def _schedule(self, ttl: int) -> None:
        now = time.monotonic()
        self._renew_at = now + ttl * 2 / 3 if ttl > 0 else None
        self._expires_at = now + ttl if ttl > 0 else None

    # -- helpers -----------------------------------------------------------------------------------------------
    def read_or_none(self, what: str, path: str) -> Any:
        """A Vault read where "not there" is an answer: ``None`` instead of an error."""

        def read(client: hvac.Client) -> Any:
            try:
                return client.read(path)
            except hvac.exceptions.InvalidPath:
                return None
            except hvac.exceptions.VaultError as exc:  # PKI answers a missing issuer or key with 500
                if "unable to find" in str(exc) or "No secret engine mount" in str(exc):
                    return None
                raise

        return self.call(what, read)

    def list_keys(self, what: str, operation: Callable[[hvac.Client], Any]) -> list[str]:
        """A Vault LIST; an empty collection answers 404, which is an empty list, not an error."""

        def listing(client: hvac.Client) -> list[str]:
            try:
                response = operation(client)
            except hvac.exceptions.InvalidPath:
                return []
            return list((response or {}).get("data", {}).get("keys", []))

        return self.call(what, listing)

    def mount(self, path: str) -> dict[str, Any] | None:
        """One secrets engine mount's settings, or ``None``: reading one mount needs no right to list them all."""
        answer = self.read_or_none(f"read mount {path}", f"sys/mounts/{path}")
        return None if answer is None else dict(answer["data"])

    def describe_issuer(self, mount: str, ref: str) -> dict[str, str]:
        """An issuer of ``mount`` as status records it: id, name, serial, validity and certificate."""
        data = self.call(f"read issuer {ref}", lambda c: c.read(f"{mount}/issuer/{ref}"))["data"]
        cert = pem.load(data["certificate"])
        return {
            "issuer": data.get("issuer_name") or data["issuer_id"],
            "issuerID": data["issuer_id"],
            "serial": pem.serial_hex(cert),
            "notBefore": timestamps.stamp(cert.not_valid_before_utc),
            "notAfter": timestamps.stamp(cert.not_valid_after_utc),
            "certificate": data["certificate"].strip(),
        }

    def default_issuer(self, mount: str) -> str:
        """The issuer new certificates of ``mount`` come from."""
        return str(self.call("read default issuer", lambda c: c.read(f"{mount}/config/issuers"))["data"]["default"])
