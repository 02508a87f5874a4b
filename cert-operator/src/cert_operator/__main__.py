"""``python -m cert_operator``: operatorkit's common flags plus Vault access."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

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
    group.add_argument("--vault-token-file", help="file holding the token (re-read on every call)")


def build(options: Options, client: KubeClient) -> Sequence[Controller[Any]]:
    extra = options.extra
    if not extra["vault_address"]:
        raise SystemExit("cert-operator: --vault-address (or VAULT_ADDR) is required")
    vault = Vault(extra["vault_address"], token=os.environ.get("VAULT_TOKEN"), token_file=extra["vault_token_file"])
    common = {"workers": options.workers, "resync_period": options.resync_period}
    return [ca_controller(vault, **common), cert_controller(vault, **common)]


if __name__ == "__main__":
    sys.exit(main("cert-operator", build, add_arguments=add_arguments))
