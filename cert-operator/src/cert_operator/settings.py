"""cert-operator settings: operatorkit's common ones plus how to reach and log in to Vault."""

from __future__ import annotations

import os
import re
from typing import Literal

import pydantic

from operatorkit import OperatorSettings, SettingsGroup, operator_config


class VaultAuthSettings(SettingsGroup):
    """How the operator logs in to Vault; the token is renewed and replaced by a new login when needed."""

    method: Literal["token", "kubernetes", "approle"] = "token"
    """token: VAULT_TOKEN or token-file; kubernetes: the pod's service account JWT; approle: role and secret id."""
    token_file: str | None = None
    """token: a file holding the token, re-read at every login (a mounted Secret that gets rotated)."""
    role: str | None = None
    """kubernetes: the Vault role bound to the operator's service account."""
    jwt_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    """kubernetes: the service account token file (re-read: it is rotated)."""
    role_id_file: str | None = None
    secret_id_file: str | None = None
    """approle: files holding the role id and the secret id."""
    mount: str | None = None
    """Where the auth method is mounted (default: its name)."""

    @pydantic.model_validator(mode="after")
    def _complete(self) -> VaultAuthSettings:
        if self.method == "kubernetes" and not self.role:
            raise ValueError("kubernetes auth needs --vault.auth.role")
        if self.method == "approle" and not (self.role_id_file and self.secret_id_file):
            raise ValueError("approle auth needs --vault.auth.role-id-file and --vault.auth.secret-id-file")
        return self


class VaultSettings(SettingsGroup):
    """The Vault (or OpenBao) server holding every guest cluster's PKI mount."""

    address: str = pydantic.Field(default_factory=lambda: os.environ.get("VAULT_ADDR", ""), validate_default=True)
    """Vault's URL (default: VAULT_ADDR)."""
    ca_cert: str | None = pydantic.Field(default_factory=lambda: os.environ.get("VAULT_CACERT"))
    """CA bundle to verify Vault's TLS certificate (default: VAULT_CACERT, else the system's)."""
    auth: VaultAuthSettings = VaultAuthSettings()

    @pydantic.field_validator("address")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://\S+", value):
            raise ValueError("set --vault.address (or VAULT_ADDR) to Vault's http(s):// URL")
        return value


class CertificateSettings(SettingsGroup):
    """How certificates are issued."""

    min_reissue_interval: float = pydantic.Field(default=10.0, ge=0, le=3600)
    """Seconds between two issuances for one CertConfig, whatever asks for more (spec churn, a Secret deleted
    over and over, a renewal window shorter than a reconcile): a floor that keeps Vault's work bounded."""


class CertSettings(OperatorSettings):
    model_config = operator_config("cert-operator")

    vault: VaultSettings = pydantic.Field(default_factory=VaultSettings)
    certificates: CertificateSettings = CertificateSettings()
