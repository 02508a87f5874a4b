"""Vault (or OpenBao) access for the cert-operator: one hvac client, errors mapped to conditions.

Vault's 4xx answers are bad input (unknown role, a name the role does not allow, a TTL above the CA's): they
become terminal errors carrying Vault's own reason, so the object shows why and nothing retries in a storm.
Connection problems and 5xx are retried with backoff, and nothing already issued is touched meanwhile.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, TypeVar

import hvac
import hvac.exceptions
import requests

from cert_operator import metrics
from operatorkit import ReconcileError, TerminalError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


class VaultUnavailable(ReconcileError):
    reason = "VaultUnavailable"


class VaultRefused(TerminalError):
    reason = "VaultRefused"


def vault_message(exc: hvac.exceptions.VaultError) -> str:
    errors = getattr(exc, "errors", None) or [str(exc)]
    return "; ".join(str(e) for e in errors).strip() or type(exc).__name__


class Vault:
    """Thread-safe enough for the operator: hvac clients are used per call under a lock-free requests session."""

    def __init__(self, address: str, token: str | None = None, token_file: str | None = None) -> None:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.address = address
        self._token_file = token_file
        self._client = hvac.Client(url=address, token=token or self._read_token(), session=session, timeout=10)
        self._lock = threading.Lock()

    def _read_token(self) -> str | None:
        if self._token_file is None:
            return None
        with open(self._token_file) as handle:
            return handle.read().strip()

    def call(self, what: str, operation: Callable[[hvac.Client], T]) -> T:
        """Run ``operation``; map Vault's refusals and outages to the operator's errors."""
        if self._token_file is not None:  # a rotated token file (e.g. a projected Secret) is picked up
            self._client.token = self._read_token()
        try:
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

    def read_or_none(self, what: str, path: str) -> Any:
        """A Vault read where "not there" is an answer: ``None`` instead of an error."""

        def read(client: hvac.Client) -> Any:
            try:
                return client.read(path)
            except hvac.exceptions.InvalidPath:
                return None
            except hvac.exceptions.VaultError as exc:  # PKI answers a missing issuer or key with 500
                if "unable to find" in str(exc):
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

    def mounts(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("list mounts", lambda c: c.sys.list_mounted_secrets_engines())
        data: dict[str, Any] = result.get("data", result)
        return data
