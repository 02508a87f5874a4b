"""The mother's etcd, where flannel clients read their network config (etcd v3 through its JSON gateway).

Each network's prefix ``<prefix>/<bridge>/`` holds flannel's ``config`` and subnet leases, and the operator's
claim: ``owner``, the FlannelConfig that created it, written atomically before anything else. Nothing under a
prefix is written or deleted unless the claim is the caller's (checked by the resources)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import etcd3gw
import requests
from etcd3gw.exceptions import Etcd3Exception

from flannel_operator import key
from operatorkit import ReconcileError

if TYPE_CHECKING:
    from flannel_operator.settings import EtcdSettings


class EtcdUnavailable(ReconcileError):
    reason = "EtcdUnavailable"


class NetworkStore:
    """Reads and writes per-cluster network configs under ``<prefix>/<bridge>/``."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        url = urlsplit(settings.endpoint)
        session = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE from the environment override session.verify: ignore the environment.
        session.trust_env = False
        if settings.ca_file:
            session.verify = settings.ca_file
        if settings.cert_file and settings.key_file:
            session.cert = (settings.cert_file, settings.key_file)
        self._client = etcd3gw.client(
            host=url.hostname or "127.0.0.1",
            port=url.port or 2379,
            protocol=url.scheme or "http",
            session=session,
            timeout=10,
        )

    def tls_files(self) -> dict[str, str] | None:
        """The CA and client certificate/key (PEM) for flannel clients, or None for plain-HTTP etcd."""
        s = self.settings
        if not (s.ca_file and s.cert_file and s.key_file):
            return None
        return {
            name: Path(path).read_text()
            for name, path in (("ca.crt", s.ca_file), ("tls.crt", s.cert_file), ("tls.key", s.key_file))
        }

    def prefix(self, bridge: str) -> str:
        return f"{self.settings.prefix.rstrip('/')}/{bridge}"

    def config_key(self, bridge: str) -> str:
        return f"{self.prefix(bridge)}/config"

    def _call(self, operation: Any, *args: Any) -> Any:
        try:
            return operation(*args)
        except (Etcd3Exception, requests.RequestException) as exc:
            # etcd3gw keeps the reason (a refused connection, a certificate that does not verify) in detail_text.
            detail = getattr(exc, "detail_text", None) or str(exc) or type(exc).__name__
            raise EtcdUnavailable(f"etcd {self.settings.endpoint}: {detail}") from exc

    def read_claim(self, bridge: str) -> str | None:
        """The owner recorded for the network on ``bridge``, or None."""
        values = self._call(self._client.get, key.etcd_claim_key(self.prefix(bridge)))
        return values[0].decode() if values else None

    def create_claim(self, bridge: str, owner: str) -> bool:
        """Record ``owner`` as the network's owner if nobody is (one etcd transaction); True if recorded."""
        return bool(self._call(self._client.create, key.etcd_claim_key(self.prefix(bridge)), owner))

    def replace_claim(self, bridge: str, old: str, new: str) -> bool:
        """Hand the claim from ``old`` to ``new`` (only if it still is ``old``)."""
        return bool(self._call(self._client.replace, key.etcd_claim_key(self.prefix(bridge)), old, new))

    def read_config(self, bridge: str) -> dict[str, Any] | None:
        values = self._call(self._client.get, self.config_key(bridge))
        if not values:
            return None
        parsed: dict[str, Any] = json.loads(values[0])
        return parsed

    def write_config(self, bridge: str, config: dict[str, Any]) -> bool:
        """Write the config only when its content differs (a rewrite would make flannel re-read, not lose
        leases, but there is no reason for it), and read it back; True when written."""
        if self.read_config(bridge) == config:
            return False
        self._call(self._client.put, self.config_key(bridge), json.dumps(config, separators=(",", ":")))
        if self.read_config(bridge) != config:
            raise EtcdUnavailable(
                f"etcd {self.settings.endpoint}: {self.config_key(bridge)} did not keep what was written"
            )
        return True

    def delete_network(self, bridge: str) -> None:
        """Delete the config, every subnet lease and the claim of the network."""
        self._call(self._client.delete_prefix, f"{self.prefix(bridge)}/")

    def keys(self, bridge: str) -> list[str]:
        found = self._call(self._client.get_prefix, f"{self.prefix(bridge)}/")
        return [meta["key"].decode() if isinstance(meta["key"], bytes) else str(meta["key"]) for _, meta in found]


def flannel_network_config(network: str, subnet_len: int, vni: int) -> dict[str, Any]:
    """The document flanneld reads: ``{"Network", "SubnetLen", "Backend": {"Type": "vxlan", "VNI"}}``."""
    return {"Network": network, "SubnetLen": subnet_len, "Backend": {"Type": "vxlan", "VNI": vni}}
