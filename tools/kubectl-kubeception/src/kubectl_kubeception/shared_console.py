"""The console as a shared service (``kubectl kubeception serve-console``, the ``kubeception-console`` chart): one
console for every person of the platform, behind the platform's authenticating proxy, acting as each person by
Kubernetes impersonation — so each sees and changes exactly what their own credentials would.

Who the person is comes the way kube-apiserver's front-proxy authentication ("request header") takes it, and with
the same flags: the proxy connects with a client certificate signed by ``--requestheader-client-ca-file`` (and, when
``--requestheader-allowed-names`` is given, with one of those common names) and names the person in ``X-Remote-User``
and their groups in ``X-Remote-Group``. A connection without such a certificate fails its TLS handshake, so nobody
else can name a person. The console then asks the mother as that person (``Impersonate-User``/``-Group``): the API
server authorizes every read, dry run, change and credential request as them. It never acts as a ``system:`` user
or group (the platform's own identities), whatever the proxy says.

The console's own service account needs only to impersonate and to list the organizations' namespaces (to offer
each person those they may read): see the chart's RBAC. Forms carry a token derived from the console's secret and
the person's name, and a post naming an Origin must name the console's public one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubectl_kubeception import pages
from kubectl_kubeception.console import ConsoleServer, Handler, Reader, Response, Session, html
from kubectl_kubeception.mother import ROLE_LABEL, Mother, PluginError
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    import urllib.parse
    from pathlib import Path

USER_HEADER, GROUP_HEADER = "X-Remote-User", "X-Remote-Group"
MAX_NAME, MAX_GROUPS = 256, 64  # characters of a user or group name; groups of one person
ORGANIZATIONS_TTL = 30.0  # seconds the organizations' namespaces are listed for


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]


def identity(peer_name: str | None, allowed: frozenset[str], users: list[str], groups: list[str]) -> Identity | str:
    """The person the proxy names, or why the request is refused. ``peer_name``: the common name of the verified
    client certificate (None: no certificate); ``allowed``: the proxies' names (empty: any the CA signed)."""
    if peer_name is None:
        return "no client certificate: only the platform's authenticating proxy may connect"
    if allowed and peer_name not in allowed:
        return f"client certificate {peer_name[:64]!r} is not one of the authenticating proxies'"
    if len(users) != 1 or not users[0]:
        return f"the proxy must name exactly one person in {USER_HEADER}"
    if len(groups) > MAX_GROUPS:
        return f"at most {MAX_GROUPS} groups in {GROUP_HEADER}"
    for name in (users[0], *groups):
        if len(name) > MAX_NAME or not name.isprintable():
            return f"a user or group name is at most {MAX_NAME} printable characters"
        if name.startswith("system:"):
            return f"{name[:64]!r} is one of the platform's own identities, which this console never acts as"
    return Identity(users[0], tuple(dict.fromkeys(groups)))


def peer_common_name(certificate: dict[str, object] | None) -> str | None:
    """The subject's common name of a verified peer certificate (``SSLSocket.getpeercert()``)."""
    for rdn in (certificate or {}).get("subject", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def tls_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """Serve with ``cert``/``key``; require a client certificate signed by ``client_ca`` (the proxy's)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class SharedHandler(Handler):
    timeout = 120  # seconds a connection may stay silent (a handshake never finished, a request never sent)


class SharedServer(ConsoleServer):
    """The shared console: TLS with the proxy's client certificate required, each request as its person."""

    def __init__(
        self,
        mother: Mother,
        address: tuple[str, int],
        context: ssl.SSLContext,
        *,
        origin: str,
        allowed: frozenset[str] = frozenset(),
        prometheus: str = "",
    ) -> None:
        self.mother, self.origin, self.allowed, self.prometheus = mother, origin.rstrip("/"), allowed, prometheus
        self.secret = secrets.token_bytes(32)
        self._listed: tuple[float, list[str]] = (0.0, [])
        self._lock = threading.Lock()
        super().__init__(address, SharedHandler)
        # The handshake happens in the request's thread, on its first read: a slow client never holds the accept.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def origin_ok(self, origin: str | None) -> bool:
        return origin is None or origin == self.origin

    def handle_error(self, request: object, client_address: object) -> None:
        """A refused handshake (no certificate, not the proxy's CA) or a dropped connection is no console error."""
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def organizations(self) -> list[str]:
        """The organizations' namespaces, as the console's own account lists them (for a while: one list serves
        every page); each person is then shown those they may read."""
        with self._lock:
            at, names = self._listed
            if time.monotonic() - at > ORGANIZATIONS_TTL:
                listed = self.mother.list_objects(NAMESPACE, None, label_selector=f"{ROLE_LABEL}=organization")
                names = sorted(item["metadata"]["name"] for item in listed)
                self._listed = (time.monotonic(), names)
            return names

    def admit(self, handler: Handler, url: urllib.parse.SplitResult, query: dict[str, list[str]], post: bool) -> (
        Session | Response
    ):  # fmt: skip
        peer = handler.connection.getpeercert() if isinstance(handler.connection, ssl.SSLSocket) else None
        who = identity(
            peer_common_name(peer),  # type: ignore[arg-type]
            self.allowed,
            handler.headers.get_all(USER_HEADER) or [],
            handler.headers.get_all(GROUP_HEADER) or [],
        )
        if isinstance(who, str):
            return html(403, pages.error_page(403, "Not signed in", who))
        try:
            organizations = self.organizations()
        except PluginError as error:  # the mother unreachable, or this console's own grant gone
            return html(502, pages.error_page(502, "The mother did not answer", error.format_message()))
        reader = Reader(
            Mother(self.mother.client.impersonating(who.user, who.groups)),
            organizations,
            prometheus=self.prometheus,
            shared=True,
        )
        return Session(reader, self.form_token(who.user))

    def form_token(self, user: str) -> str:
        """The token ``user``'s forms carry: from this console's secret and their name, readable only by their pages."""
        return hmac.new(self.secret, user.encode(), hashlib.sha256).hexdigest()
