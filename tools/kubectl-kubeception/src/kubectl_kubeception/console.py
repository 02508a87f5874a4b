"""``kubectl kubeception console``: a small web server on 127.0.0.1 that shows the person's organizations, clusters
and each cluster's page, read with their own mother credentials (their kubeconfig) — so it can never show more than
they may; a refusal is a page that names what was refused, in the API server's words.

The standard library's threading HTTP server (one person, a few requests a second: no framework needed) and
:mod:`kubectl_kubeception.pages` for the HTML. It listens on loopback only, and since it acts as the person, not
everyone who can reach loopback may use it: the address it prints carries a random token, exchanged on the first
visit for a cookie (HttpOnly, SameSite=Strict), as Jupyter does; any other request is refused. A Host other than
127.0.0.1 or localhost is refused too (a DNS-rebinding page of another site would otherwise be same-origin).

Changes (create a cluster, scale a pool, upgrade) are forms posted back here: each is first previewed — the manifest
or patch shown, checked by the API server in a server-side dry run — and applied only from the preview's form (a
change only if the cluster is still the version previewed). Log in is a form too: the plugin's login, answered with
the kubeconfig as a download. A post must carry the session's form token (derived from the cookie's secret, so
another site's page, which cannot read this one, cannot forge it), come with the cookie (SameSite=Strict: never
sent from another site) and, when the browser names one, from this console's own Origin.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookies
import http.server
import re
import secrets
import sys
import traceback
import urllib.parse
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Literal

import yaml

from kubectl_kubeception import changes, clusters, health, kubeconfigs, login, pages
from kubectl_kubeception.mother import (
    AWS_CONFIG,
    KVM_CONFIG,
    ORGANIZATION_LABEL,
    ROLE_LABEL,
    Forbidden,
    Invalid,
    NotFound,
    PluginError,
    Refused,
    TimedOut,
)
from operatorkit import ApiError
from operatorkit.kinds import NAMESPACE
from operatorkit.timestamps import now

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Sequence

    from kubectl_kubeception.mother import Mother

COOKIE = "kubeception-console"
MAX_FORM = 4096  # bytes: a change's form is a few fields
# No script, no frame, no form elsewhere, styles from the console only: an escaping mistake still runs nothing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # The first address carries the token: never sent to another site. (Not no-referrer: under it a browser names
    # no Origin on a post — "null" — and the console's own forms could not be told from another page's.)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # a namespace's or an object's name (a DNS label)
CSS = resources.files("kubectl_kubeception").joinpath("templates", "console.css").read_bytes()


Admission = Literal["ok", "exchange", "wrong-host", "no-token"]


def form_token(token: str) -> str:
    """The token every form carries: derived from the session's secret, readable only by pages of this console."""
    return hmac.new(token.encode(), b"kubeception-console-form", hashlib.sha256).hexdigest()


def same_origin(origin: str | None, port: int) -> bool:
    """Whether a post's Origin (when the browser sends one) is this console's."""
    return origin is None or origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}")


def admitted(host: str | None, port: int, cookie: str | None, query_token: str | None, token: str) -> Admission:
    """Whether a request may be answered: ``exchange`` — the printed address's token, to be set as the cookie;
    ``ok`` — the cookie; ``wrong-host`` — a Host that is not this console's loopback address; ``no-token``."""
    if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
        return "wrong-host"
    if query_token is not None and hmac.compare_digest(query_token.encode(), token.encode()):
        return "exchange"
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(cookie or "")
    except http.cookies.CookieError:
        return "no-token"
    given = jar.get(COOKIE)
    if given is not None and hmac.compare_digest(given.value.encode(), token.encode()):
        return "ok"
    return "no-token"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def html(status: int, text: str) -> Response:
    return Response(status, text.encode())


class Reader:
    """The pages' content, read from the mother with the person's credentials. ``named``: the organizations'
    namespaces to show when the person may not list namespaces (a member: the context's namespace, or -n)."""

    def __init__(
        self,
        mother: Mother,
        named: Sequence[str],
        clock: Callable[[], datetime.datetime] = now,
        *,
        prometheus: str = "",
        live_wait: int = 50,
        shared: bool = False,
    ) -> None:
        self.mother = mother
        self.named = [n for n in named if n]
        self.shared = shared  # named: every organization, and the person is shown those they may read
        self.clock = clock
        self.prometheus = prometheus
        self.live_wait = live_wait  # seconds a followed page's reload waits for a change

    def health(self) -> Response:
        at = self.clock()
        charts = health.charts(self.prometheus, health.dashboard_file(), at) if self.prometheus else []
        return html(200, pages.health_page(self.prometheus, charts, at))

    def organizations(self) -> tuple[dict[str, str], str]:
        """Namespace → organization: every organization for whoever may list namespaces (platform admins), else the
        named ones that are organizations; and a note saying which when not all."""
        try:
            listed = self.mother.client.list(NAMESPACE, label_selector=f"{ROLE_LABEL}=organization")["items"]
        except ApiError as error:
            if error.status != 403:
                raise
            found = self.mother.organizations(set(self.named))
            if self.shared:
                return found, (
                    "You may not list namespaces (platform admins may), so this shows the organizations whose "
                    f"clusters you may read: {', '.join(sorted(found)) or 'none'}."
                )
            named = ", ".join(self.named) or "none"
            return found, (
                "You may not list namespaces (platform admins may), so this shows the organizations you named when "
                f"starting the console (the context's namespace, or -n): {named}. Open another one by name below."
            )
        return {
            i["metadata"]["name"]: (i["metadata"].get("labels") or {}).get(ORGANIZATION_LABEL, "") for i in listed
        }, ""

    def clusters_in(self, namespace: str | None) -> list[clusters.Cluster]:
        """The KVM and AWS guests of a namespace (``None``: all namespaces); Forbidden when the person may not."""
        return [
            clusters.summarize(o) for kind in (KVM_CONFIG, AWS_CONFIG) for o in self.mother.installed(kind, namespace)
        ]

    def home(self) -> Response:
        known, note = self.organizations()
        everywhere: list[clusters.Cluster] | None = None
        if not note:  # a platform admin: one list for all
            try:
                everywhere = self.clusters_in(None)
            except Forbidden:
                everywhere = None
        organizations = []
        for namespace, name in sorted(known.items(), key=lambda item: item[1]):
            if everywhere is not None:
                organizations.append(
                    pages.Organization(name, namespace, [c for c in everywhere if c.namespace == namespace])
                )
                continue
            try:
                organizations.append(pages.Organization(name, namespace, self.clusters_in(namespace)))
            except Forbidden as error:
                organizations.append(pages.Organization(name, namespace, [], refused=error.format_message()))
        others = [c for c in everywhere or [] if c.namespace not in known]
        return html(200, pages.organizations_page(organizations, others, self.clock(), note=note))

    def all_clusters(self) -> Response:
        try:
            found = self.clusters_in(None)
            note, where = "", ["-A"]
        except Forbidden:
            known, _ = self.organizations()
            where = ["-n", next(iter(known))] if len(known) == 1 else ["-A"]  # the command that shows the same
            found, refused = [], []
            for namespace in sorted(known):
                try:
                    found += self.clusters_in(namespace)
                except Forbidden:
                    refused.append(namespace)
            note = "You may not list clusters in all namespaces (platform admins may): these are your organizations'"
            note += f" ({', '.join(sorted(known)) or 'none'})."
            if refused:
                note += f" Not readable with your permissions: {', '.join(refused)}."
        names = self.mother.organizations({c.namespace for c in found})
        return html(
            200,
            pages.clusters_page(
                found, names, self.clock(), title="Clusters", note=note,
                cli=pages.command("kubectl", "kubeception", "get", "clusters", *where),
            ),
        )  # fmt: skip

    def namespace_of(self, organization: str) -> str:
        known, _ = self.organizations()
        return next((ns for ns, org in known.items() if org == organization), f"org-{organization}")

    def organization(self, name: str, csrf: str = "") -> Response:
        namespace = self.namespace_of(name)
        found = self.clusters_in(namespace)
        return html(
            200,
            pages.clusters_page(
                found, {namespace: name}, self.clock(), title=f"Clusters of organization {name}",
                cli=pages.command("kubectl", "kubeception", "get", "clusters", "-n", namespace),
                new_cluster=name, csrf=csrf,
            ),
        )  # fmt: skip

    def create(self, organization: str, fields: dict[str, str], csrf: str) -> Response:
        """A new cluster's preview (a server-side dry run of its creation) or, from the preview's form, created."""
        namespace = self.namespace_of(organization)
        plan = changes.new_cluster(namespace, fields)
        summary = clusters.summarize(plan.patch)
        target = KVM_CONFIG if plan.patch["kind"] == "KVMConfig" else AWS_CONFIG
        apply = fields.get("step") == "apply"
        try:
            self.mother.call(
                "create", target, namespace,
                lambda: self.mother.client.create(target, plan.patch, namespace, dry_run=not apply),
            )  # fmt: skip
        except PluginError as refusal:
            page = pages.change_page(summary, plan, csrf=csrf, refused=refusal.format_message(),
                                     organization=organization)  # fmt: skip
            return html(409 if apply else 200, page)
        return html(200, pages.change_page(summary, plan, csrf=csrf, applied=apply, organization=organization))

    def cluster(self, namespace: str, name: str, csrf: str = "", query: dict[str, list[str]] | None = None) -> Response:
        """A cluster's page; followed live (``?live=1``), it reloads itself at once from ``?live=1&after=<its
        resourceVersion>``, which this answers only once the cluster changed since (a watch of it alone), or after
        ``live_wait`` seconds: a long poll, so the page stays without script."""
        query = query or {}
        live = query.get("live") == ["1"]
        obj = self.mother.find_cluster(name, namespace)
        after = (query.get("after") or [""])[0]
        unchanged = live and changes.RESOURCE_VERSION.match(after) and after == obj["metadata"]["resourceVersion"]
        note = ""
        if unchanged:
            changed = self.mother.changed_since(obj, after, self.live_wait)
            if changed is None:
                live = False
                note = "Following stopped: this cluster could not be watched with your credentials (reload to retry)."
            elif changed:
                obj = self.mother.find_cluster(name, namespace)
        follow = ""
        if live:
            follow = f"{pages.cluster_url(clusters.summarize(obj))}?live=1&after={obj['metadata']['resourceVersion']}"
        organization = self.mother.organizations({namespace}).get(namespace, "")
        root = self.mother.cluster_tree(obj)
        page = pages.cluster_page(
            clusters.summarize(obj), organization, root, self.mother.events(obj), self.clock(),
            pools=changes.pools(obj), csrf=csrf, follow=follow, note=note,
        )  # fmt: skip
        return html(200, page)

    def change(self, namespace: str, name: str, action: str, fields: dict[str, str], csrf: str) -> Response:
        """A change's preview (a server-side dry run of its patch) or, from the preview's form (``step=apply``), the
        change applied — unless the cluster changed since the preview: then it is previewed again."""
        obj = self.mother.find_cluster(name, namespace)
        summary = clusters.summarize(obj)
        target = KVM_CONFIG if obj["kind"] == "KVMConfig" else AWS_CONFIG
        apply = fields.get("step") == "apply"
        if apply and not changes.unchanged_since_preview(obj, fields):
            apply = False  # what the person saw is not what would be changed: show them the change again
        plan = changes.planned(obj, action, fields)

        def patch(dry_run: bool) -> None:
            self.mother.call(
                "patch", target, namespace,
                lambda: self.mother.client.patch(target, name, plan.patch, namespace, dry_run=dry_run),
            )  # fmt: skip

        try:
            patch(dry_run=not apply)
        except PluginError as refusal:  # Invalid, Forbidden: the API server's words
            return html(409 if apply else 200, pages.change_page(summary, plan, csrf=csrf,
                                                                 refused=refusal.format_message()))  # fmt: skip
        return html(200, pages.change_page(summary, plan, csrf=csrf, applied=apply))

    def login(self, namespace: str, name: str, fields: dict[str, str]) -> Response:
        """``login`` as the plugin does it — the key made here, only its CSR sent, the issuer's certificate checked
        against it — answered with the kubeconfig as a download (this console stores nothing)."""
        form = changes.login_form(fields)
        made = login.obtain(self.mother, namespace, name, access=form.access, ttl=form.ttl, server=form.server)
        config = kubeconfigs.with_context({}, name=made.context, cluster=made.cluster, user=made.user, switch=True)
        filename = re.sub(r"[^A-Za-z0-9._-]+", "-", made.context)[:100] + ".kubeconfig"
        return Response(
            200,
            yaml.safe_dump(config, sort_keys=False).encode(),
            "application/yaml",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def route(
        self, path: str, query: dict[str, list[str]], *, form: dict[str, str] | None = None, csrf: str = ""
    ) -> Response:
        """The page for a path (already without its query), or with ``form`` what a post of it does; a refusal is a
        page naming what was refused."""
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        try:
            if form is not None:
                match parts:
                    case ["orgs", organization, "clusters", "new"] if LABEL.match(organization):
                        return self.create(organization, form, csrf)
                    case ["clusters", namespace, name, "login"] if LABEL.match(namespace) and LABEL.match(name):
                        return self.login(namespace, name, form)
                    case ["clusters", namespace, name, action] if LABEL.match(namespace) and LABEL.match(name):
                        return self.change(namespace, name, action, form, csrf)
                return html(404, pages.error_page(404, "Not found", f"Nothing at {path} takes a form."))
            match parts:
                case []:
                    return self.home()
                case ["console.css"]:
                    return Response(200, CSS, "text/css; charset=utf-8")
                case ["clusters"]:
                    return self.all_clusters()
                case ["health"]:
                    return self.health()
                case ["orgs"] if LABEL.match(name := (query.get("name") or [""])[0]):
                    return Response(303, b"", headers={"Location": pages.organization_url(name)})
                case ["orgs", name, "clusters"] if LABEL.match(name):
                    return self.organization(name, csrf)
                case ["clusters", namespace, name] if LABEL.match(namespace) and LABEL.match(name):
                    return self.cluster(namespace, name, csrf, query)
            return html(404, pages.error_page(404, "Not found", f"There is no page {path} in the console."))
        except Forbidden as error:
            return html(403, pages.error_page(403, "Forbidden", error.format_message()))
        except NotFound as error:
            return html(404, pages.error_page(404, "Not found", error.format_message()))
        except Invalid as error:
            return html(400, pages.error_page(400, "Refused", error.format_message()))
        except Refused as error:  # the issuer's refusal of a login, in its words
            return html(403, pages.error_page(403, "Refused", error.format_message()))
        except TimedOut as error:
            return html(504, pages.error_page(504, "No answer in time", error.format_message()))
        except PluginError as error:
            return html(502, pages.error_page(502, "The mother did not answer", error.format_message()))


@dataclass(frozen=True)
class Session:
    """An admitted request's reader (acting as the person) and the token their forms must carry."""

    reader: Reader
    form_token: str


class ConsoleServer(http.server.ThreadingHTTPServer):
    """What the console's two ways of serving share: the pages and forms; who is admitted, as whom, and from which
    origin a post may come are each server's own (:class:`Server` on loopback for its starter; a shared console
    behind the platform's authenticating proxy in :mod:`kubectl_kubeception.shared_console`)."""

    daemon_threads = True

    def admit(self, handler: Handler, url: urllib.parse.SplitResult, query: dict[str, list[str]], post: bool) -> (
        Session | Response
    ):  # fmt: skip
        raise NotImplementedError

    def origin_ok(self, origin: str | None) -> bool:
        raise NotImplementedError


class Server(ConsoleServer):
    """The person's own console on 127.0.0.1, acting with their kubeconfig; their browser holds its token."""

    def __init__(self, reader: Reader, port: int) -> None:
        self.reader = reader
        self.token = secrets.token_urlsafe(32)
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The address to open: with the token, which the first visit exchanges for a cookie."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def origin_ok(self, origin: str | None) -> bool:
        return same_origin(origin, self.port)

    def admit(self, handler: Handler, url: urllib.parse.SplitResult, query: dict[str, list[str]], post: bool) -> (
        Session | Response
    ):  # fmt: skip
        given = query.pop("token", [])
        token = given[0] if given else None
        verdict = admitted(handler.headers.get("Host"), self.port, handler.headers.get("Cookie"), token, self.token)
        if verdict == "wrong-host":
            message = f"This console answers only at 127.0.0.1:{self.port} or localhost:{self.port}."
            return html(421, pages.error_page(421, "Wrong address", message))
        if verdict == "no-token":
            message = (
                "This console acts with the credentials of the person who started it: open it from the address "
                "`kubectl kubeception console` printed (with its token)."
            )
            return html(403, pages.error_page(403, "Not signed in", message))
        if verdict == "exchange" and post:  # a post is answered for the cookie only, never for a token
            return html(403, pages.error_page(403, "Not signed in", "Open the console's page first."))
        if verdict == "exchange":
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            rest = urllib.parse.urlencode(query, doseq=True)
            return Response(
                303, b"", headers={"Location": url.path + (f"?{rest}" if rest else ""), "Set-Cookie": cookie}
            )
        return Session(self.reader, form_token(self.token))


class Handler(http.server.BaseHTTPRequestHandler):
    server: ConsoleServer
    server_version = "kubeception-console"
    sys_version = ""

    def do_GET(self) -> None:
        self.answer(self.respond())

    def do_HEAD(self) -> None:
        self.answer(self.respond(), body=False)

    def do_POST(self) -> None:
        self.answer(self.respond(post=True))

    def read_form(self, expected: str) -> dict[str, str] | Response:
        """The posted form's fields (each its first value), or the page refusing a post that is not this console's
        form: too large, not a form, without the session's form token (``expected``), from another origin."""
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_FORM:
            return html(413, pages.error_page(413, "Refused", f"A form here is at most {MAX_FORM} bytes."))
        body = self.rfile.read(int(length))
        kind = self.headers.get("Content-Type", "").split(";")[0].strip()
        if kind != "application/x-www-form-urlencoded":
            return html(415, pages.error_page(415, "Refused", "This console takes its own forms only."))
        try:
            parsed = urllib.parse.parse_qs(body.decode(), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            return html(400, pages.error_page(400, "Refused", "The form could not be read."))
        form = {name: values[0] for name, values in parsed.items()}
        if not self.server.origin_ok(self.headers.get("Origin")) or not hmac.compare_digest(
            form.pop("csrf", "").encode(), expected.encode()
        ):
            message = "This form did not come from this console's own page (reload the cluster's page and try again)."
            return html(403, pages.error_page(403, "Refused", message))
        return form

    def respond(self, post: bool = False) -> Response:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        session = self.server.admit(self, url, query, post)
        if isinstance(session, Response):
            return session
        form: dict[str, str] | None = None
        if post:
            read = self.read_form(session.form_token)
            if isinstance(read, Response):
                return read
            form = read
        try:
            return session.reader.route(url.path, query, form=form, csrf=session.form_token)
        except Exception:  # a bug here: the person sees a page, the terminal the traceback
            traceback.print_exc(file=sys.stderr)
            return html(500, pages.error_page(500, "Console error", "The console failed; its terminal shows why."))

    def answer(self, response: Response, body: bool = True) -> None:
        self.send_response(response.status)
        headers = {**SECURITY_HEADERS, "Content-Type": response.content_type, **response.headers}
        headers["Content-Length"] = str(len(response.body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request line carries the token on the first visit."""


def serve(mother: Mother, named: Sequence[str], port: int = 0, prometheus: str = "") -> Server:
    """A console bound to 127.0.0.1:``port`` (0: a free one), drawing reconcile health from ``prometheus`` (a URL;
    empty: none); the caller runs ``serve_forever``."""
    return Server(Reader(mother, named, prometheus=prometheus), port)
