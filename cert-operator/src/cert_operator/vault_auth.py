"""How the cert-operator logs in to Vault: a token (from a file or the environment), Kubernetes auth (the pod's
service account JWT) or AppRole. Every method yields a token with a TTL; :class:`cert_operator.vault.Vault`
renews it before it runs out and logs in again when renewal no longer helps."""

from __future__ import annotations

import abc
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import hvac

    from cert_operator.settings import VaultAuthSettings

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@dataclasses.dataclass(frozen=True)
class Login:
    token: str
    ttl: int  # seconds; 0 = does not expire (e.g. a root token)
    renewable: bool


def _read(path: str) -> str:
    return Path(path).read_text().strip()


def _login(answer: dict[str, Any]) -> Login:
    auth = answer["auth"]
    return Login(auth["client_token"], int(auth.get("lease_duration") or 0), bool(auth.get("renewable")))


class VaultAuth(abc.ABC):
    """One way to obtain a token."""

    name: str

    @abc.abstractmethod
    def login(self, client: hvac.Client) -> Login: ...

    @property
    def can_login_again(self) -> bool:
        """Whether a new token can be had when the current one cannot be renewed any more."""
        return True


class TokenAuth(VaultAuth):
    """A token from a file (re-read at every login, e.g. a mounted Secret that gets rotated) or a fixed value."""

    name = "token"

    def __init__(self, token: str | None = None, token_file: str | None = None) -> None:
        if not token and not token_file:
            raise ValueError("token auth needs a token (VAULT_TOKEN) or a token file")
        self._token, self._token_file = token, token_file

    def login(self, client: hvac.Client) -> Login:
        token = _read(self._token_file) if self._token_file else self._token
        assert token
        client.token = token
        data = client.auth.token.lookup_self()["data"]
        return Login(token, int(data.get("ttl") or 0), bool(data.get("renewable")))

    @property
    def can_login_again(self) -> bool:
        return self._token_file is not None


@dataclasses.dataclass
class KubernetesAuth(VaultAuth):
    """Vault's Kubernetes auth method with the pod's service account token (re-read: it is rotated)."""

    role: str
    mount: str = "kubernetes"
    jwt_file: str = SERVICE_ACCOUNT_TOKEN
    name = "kubernetes"

    def login(self, client: hvac.Client) -> Login:
        return _login(client.auth.kubernetes.login(self.role, _read(self.jwt_file), mount_point=self.mount))


@dataclasses.dataclass
class AppRoleAuth(VaultAuth):
    """Vault's AppRole auth method; the role id and secret id come from files (mounted Secrets)."""

    role_id_file: str
    secret_id_file: str
    mount: str = "approle"
    name = "approle"

    def login(self, client: hvac.Client) -> Login:
        return _login(
            client.auth.approle.login(_read(self.role_id_file), _read(self.secret_id_file), mount_point=self.mount)
        )


def from_settings(settings: VaultAuthSettings) -> VaultAuth:
    """The auth method the settings name, with its files."""
    if settings.method == "kubernetes":
        assert settings.role is not None  # checked by the settings model
        return KubernetesAuth(settings.role, settings.mount or "kubernetes", settings.jwt_file)
    if settings.method == "approle":
        assert settings.role_id_file is not None
        assert settings.secret_id_file is not None
        return AppRoleAuth(settings.role_id_file, settings.secret_id_file, settings.mount or "approle")
    return TokenAuth(os.environ.get("VAULT_TOKEN"), settings.token_file)
