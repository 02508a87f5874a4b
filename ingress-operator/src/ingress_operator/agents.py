"""What the HAProxy agents have applied: each serves ``GET /status`` (see :mod:`ingress_operator.agent`).

A route is served when every agent has applied a table revision that holds it and none reports it failed. The
agents are a fixed list of URLs, or the ready endpoints of their Service (read from the operator's cache).
"""

from __future__ import annotations

import concurrent.futures
import json
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingress_operator import key

if TYPE_CHECKING:
    from ingress_operator.settings import AgentSettings
    from operatorkit import CacheReader


@dataclass(frozen=True)
class AgentStatus:
    url: str
    revision: int = -1
    failed: dict[str, str] = field(default_factory=dict)
    """backend → why HAProxy does not serve it."""
    error: str | None = None
    """Why the agent could not be asked, or what it reports wrong with HAProxy."""


class Agents:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="agents")

    def urls(self, slices: CacheReader | None) -> list[str]:
        if self.settings.service is None or slices is None:
            return list(self.settings.urls)
        namespace, service = self.settings.service.split("/")
        urls = list(self.settings.urls)
        for endpoint_slice in slices.by_index(key.SERVICE_INDEX, key.service_key(namespace, service)):
            for endpoint in endpoint_slice.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                urls.extend(f"http://{_host(address)}:{self.settings.port}" for address in endpoint["addresses"][:1])
        return sorted(set(urls))

    def statuses(self, urls: list[str]) -> list[AgentStatus]:
        return list(self._pool.map(self._ask, urls))

    def _ask(self, url: str) -> AgentStatus:
        try:
            with urllib.request.urlopen(f"{url}/status", timeout=self.settings.timeout) as response:
                body = json.load(response)
            return AgentStatus(url, int(body["revision"]), dict(body.get("failed") or {}), body.get("error"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return AgentStatus(url, error=f"agent {url} not reachable: {exc}")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
