"""``python -m cert_operator``: operatorkit's common flags plus Vault access."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from cert_operator import vault_auth
from cert_operator.controller import ca_controller, cert_controller
from cert_operator.vault import Vault
from operatorkit.cli import main

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from operatorkit import Controller, KubeClient
    from operatorkit.cli import Options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vault")
    group.add_argument("--vault-address", default=os.environ.get("VAULT_ADDR"), help="Vault/OpenBao URL")
    group.add_argument("--vault-ca-cert", default=os.environ.get("VAULT_CACERT"), help="CA bundle for Vault's TLS")
    group.add_argument(
        "--vault-auth", choices=("token", "kubernetes", "approle"), default="token", help="how to log in to Vault"
    )
    group.add_argument("--vault-token-file", help="token auth: file holding the token (else VAULT_TOKEN)")
    group.add_argument("--vault-role", help="kubernetes auth: the Vault role")
    group.add_argument("--vault-jwt-file", help="kubernetes auth: service account token file (default: the pod's)")
    group.add_argument("--vault-role-id-file", help="approle auth: file holding the role id")
    group.add_argument("--vault-secret-id-file", help="approle auth: file holding the secret id")
    group.add_argument("--vault-auth-mount", help="where the auth method is mounted (default: its name)")


def build(options: Options, client: KubeClient) -> Sequence[Controller[Any]]:
    extra = options.extra
    if not extra["vault_address"]:
        raise SystemExit("cert-operator: --vault-address (or VAULT_ADDR) is required")
    try:
        auth = vault_auth.from_options(extra["vault_auth"], extra)
    except ValueError as exc:
        raise SystemExit(f"cert-operator: {exc}") from None
    vault = Vault(extra["vault_address"], auth, ca_cert=extra["vault_ca_cert"])
    common = {"workers": options.workers, "resync_period": options.resync_period}
    return [ca_controller(vault, **common), cert_controller(vault, **common)]


if __name__ == "__main__":
    sys.exit(main("cert-operator", build, add_arguments=add_arguments))
