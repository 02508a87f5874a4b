"""The mother's API as the plugin uses it: operatorkit's client (plain dicts, the API server's own reason and message,
every kubeconfig form kubectl reads), and its refusals turned into errors that say what to do.

The plugin is short-lived and a person waits for it: transient errors are retried twice within 10 s, not for a minute
as an operator would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import click

from kubectl_kubeception import tree
from operatorkit import ApiError, Kind, KubeClient
from operatorkit.kinds import CONFIG_MAP, EVENT, NAMESPACE, SECRET

if TYPE_CHECKING:
    from collections.abc import Callable

    from operatorkit import Object

KVM_CONFIG = Kind("kubeception.io/v1alpha1", "KVMConfig", "kvmconfigs")
AWS_CONFIG = Kind("kubeception.io/v1alpha1", "AWSConfig", "awsconfigs")
CA_CONFIG = Kind("kubeception.io/v1alpha1", "CAConfig", "caconfigs")
CERT_CONFIG = Kind("kubeception.io/v1alpha1", "CertConfig", "certconfigs")
FLANNEL_CONFIG = Kind("kubeception.io/v1alpha1", "FlannelConfig", "flannelconfigs", namespaced=False)
INGRESS_CONFIG = Kind("kubeception.io/v1alpha1", "IngressConfig", "ingressconfigs", namespaced=False)
CREDENTIAL_REQUEST = Kind("kubeception.io/v1alpha1", "GuestCredentialRequest", "guestcredentialrequests")
CLUSTER_KINDS = {"kvm": KVM_CONFIG, "aws": AWS_CONFIG}
ORGANIZATION_LABEL = "kubeception.io/organization"
ROLE_LABEL = "kubeception.io/role"
CLUSTER_LABEL = "kubeception.io/cluster"
ORGANIZATION_CONFIG_MAP = "kubeception-organization"  # the organization's quota; its members may read it

T = TypeVar("T")


class PluginError(click.ClickException):
    """An error printed as ``error: <message>``; each kind its own exit code (documented in ``--help`` and
    docs/kubectl-plugin.md; 2 is click's, a usage error)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class NotFound(PluginError):
    exit_code = 3


class Forbidden(PluginError):
    exit_code = 4


class Invalid(PluginError):
    """Refused as invalid: by the CRD's schema, an admission policy, or the plugin's own checks."""

    exit_code = 5


class Refused(PluginError):
    """A credential the issuer refused, or one not for our key."""

    exit_code = 6


class TimedOut(PluginError):
    exit_code = 7


def explain(error: ApiError, *, verb: str, what: str, namespace: str | None) -> PluginError:
    """``error`` from ``verb`` on ``what`` (a resource, e.g. ``kvmconfigs.kubeception.io``) as a person can act on."""
    where = f"in namespace {namespace}" if namespace else "in all namespaces" if namespace is None else "cluster-wide"
    if error.status == 403 and _admission(error.message):
        return Invalid(f"refused at admission: {error.message}")
    if error.status == 403:
        hint = (
            "ask a platform admin for a RoleBinding of kubeception:cluster-viewer (read) or kubeception:cluster-admin "
            "(create, scale, upgrade, log in) in your organization's namespace, and name it with -n"
            if what.endswith("kubeception.io")
            else "platform admins have it"
        )
        return Forbidden(
            f"forbidden: you may not {verb} {what} {where}: {hint}.\n  the API server said: {error.message}"
        )
    if error.status == 404:
        return NotFound(f"not found: {error.message}")
    if error.status in (400, 422):
        return Invalid(f"refused by the API server: {error.message}")
    if error.status == 409:
        return PluginError(f"conflict: {error.message} (try again)")
    return PluginError(f"{verb} {what} {where}: {error}")


def _admission(message: str) -> bool:
    """Whether a 403 is an admission refusal (an organization's policy, its ResourceQuota) rather than RBAC's: the
    API server answers both with Forbidden, and only RBAC's is fixed by a RoleBinding."""
    return "denied request" in message or "exceeded quota" in message or "admission webhook" in message


class Mother:
    """The mother cluster, through one kubeconfig context."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None) -> Mother:
        try:
            client = KubeClient.load(kubeconfig, context, max_connections=4, retry_attempts=3, retry_deadline=10)
        except (OSError, ValueError, KeyError) as error:
            raise PluginError(f"cannot use the kubeconfig: {error}") from error
        return cls(client)

    def call(self, verb: str, kind: Kind, namespace: str | None, action: Callable[[], T]) -> T:
        try:
            return action()
        except ApiError as error:
            raise explain(error, verb=verb, what=str(kind), namespace=namespace if kind.namespaced else "") from error
        except OSError as error:  # the server cannot be reached: say which
            raise PluginError(f"cannot reach the mother's API server at {self.client.host}: {error}") from error

    def list_objects(
        self, kind: Kind, namespace: str | None, label_selector: str | None = None, field_selector: str | None = None
    ) -> list[Object]:
        found = self.call(
            "list",
            kind,
            namespace,
            lambda: self.client.list(kind, namespace, label_selector=label_selector, field_selector=field_selector),
        )
        items: list[Object] = found.get("items") or []
        for item in items:  # a list's items carry no apiVersion and kind
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    def installed(self, kind: Kind, namespace: str | None) -> list[Object]:
        """The objects of a kind whose CRD may not be installed (a mother running only kvm-operator has no
        AWSConfigs): none then, rather than an error."""
        try:
            return self.list_objects(kind, namespace)
        except NotFound:
            return []

    def get(self, kind: Kind, name: str, namespace: str | None) -> Object:
        return self.call("get", kind, namespace, lambda: self.client.get(kind, name, namespace))

    def get_or_none(self, kind: Kind, name: str, namespace: str | None) -> Object | None:
        """The object, None when it does not exist or the caller may not read it."""
        try:
            return self.client.get(kind, name, namespace)
        except ApiError as error:
            if error.status in (403, 404):
                return None
            raise explain(error, verb="get", what=str(kind), namespace=namespace) from error

    def try_list(
        self, kind: Kind, namespace: str | None, label_selector: str | None = None, field_selector: str | None = None
    ) -> list[Object] | None:
        """The objects, None when the caller may not list them (describe shows what it can read)."""
        try:
            return self.list_objects(kind, namespace, label_selector, field_selector)
        except PluginError as error:
            if isinstance(error, Forbidden | NotFound):
                return None
            raise

    def find_cluster(self, name: str, namespace: str, kind: str | None = None) -> Object:
        """The KVMConfig or AWSConfig ``name`` in ``namespace`` (``kind``: only that one)."""
        kinds = [CLUSTER_KINDS[kind]] if kind else list(CLUSTER_KINDS.values())
        for candidate in kinds:
            try:
                found = self.client.get(candidate, name, namespace)
            except ApiError as error:
                if error.status == 404:
                    continue
                raise explain(error, verb="get", what=str(candidate), namespace=namespace) from error
            found.setdefault("apiVersion", candidate.api_version)
            found.setdefault("kind", candidate.kind)
            return found
        looked = " or ".join(k.kind for k in kinds)
        raise NotFound(
            f"no {looked} named {name!r} in namespace {namespace}; "
            "list the clusters you can see with `kubectl kubeception get clusters -A` and name the namespace with -n"
        )

    def changed_since(self, obj: Object, resource_version: str, timeout: int) -> bool | None:
        """Wait until ``obj`` (a cluster) changes after ``resource_version``, at most ``timeout`` seconds, watching
        it alone: whether it did. A version the server no longer has (410) counts as a change (read it anew); a
        watch that could not be made or broke is None (the caller stops following: answering at once again and
        again would be a loop without a floor)."""
        kind = CLUSTER_KINDS["kvm" if obj["kind"] == "KVMConfig" else "aws"]
        meta = obj["metadata"]
        try:
            stream = self.client.watch(
                kind, meta["namespace"], resource_version=resource_version,
                field_selector=f"metadata.name={meta['name']}", timeout_seconds=timeout,
                inactivity_timeout=timeout + 30,
            )  # fmt: skip
        except ApiError as error:
            return True if error.status == 410 else None
        except Exception:  # the connection failed (urllib3's errors or the OS's)
            return None
        try:
            return any(event.get("type") != "BOOKMARK" for event in stream)  # a change, or the watch's ERROR
        except Exception:  # the stream broke (a read timeout, a reset)
            return None
        finally:
            stream.close()

    def cluster_tree(self, obj: Object) -> tree.Row:
        """What ``describe cluster`` (and the console's cluster page) shows: the cluster and what its operator made
        for it, each part the caller may read."""
        cluster_id = (obj.get("spec") or {}).get("clusterID", obj["metadata"]["name"])
        selector = f"{CLUSTER_LABEL}={cluster_id}"
        certificates = self.try_list(CERT_CONFIG, cluster_id, selector)
        readable = certificates is not None  # the children are readable together (platform admins) or not at all
        kvm = obj["kind"] == "KVMConfig"  # AWS guests have no FlannelConfig or IngressConfig
        network = self.get_or_none(FLANNEL_CONFIG, cluster_id, None) if kvm and readable else None
        ingress = self.get_or_none(INGRESS_CONFIG, cluster_id, None) if kvm and readable else None
        return tree.build(
            obj,
            ca=self.try_list(CA_CONFIG, cluster_id, selector),
            certificates=certificates,
            network=network if readable or not kvm else False,
            ingress=ingress if readable or not kvm else False,
        )

    def events(self, obj: Object) -> list[Object] | None:
        """The Events about this very object (by uid: not a predecessor's of the same name), newest first; None when
        the caller may not list Events."""
        meta = obj["metadata"]
        selector = f"involvedObject.kind={obj['kind']},involvedObject.name={meta['name']}"
        if meta.get("uid"):
            selector += f",involvedObject.uid={meta['uid']}"
        found = self.try_list(EVENT, meta.get("namespace"), field_selector=selector)
        if found is None:
            return None

        def last_seen(event: Object) -> str:
            return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")

        return sorted(found, key=last_seen, reverse=True)

    def organizations(self, namespaces: set[str]) -> dict[str, str]:
        """Namespace → organization (the namespace's ``kubeception.io/organization`` label; for a member, who may not
        read namespaces, the organization's ConfigMap says it). Namespaces that are no organization are left out."""
        found: dict[str, str] = {}
        if len(namespaces) > 1:  # one list for all (platform admins may); the others are no organizations
            try:
                listed = self.client.list(NAMESPACE, label_selector=f"{ROLE_LABEL}=organization")["items"]
            except ApiError:
                listed = None
            if listed is not None:
                labels = {item["metadata"]["name"]: item["metadata"].get("labels") or {} for item in listed}
                return {n: labels[n].get(ORGANIZATION_LABEL, "") for n in namespaces if n in labels}
        for namespace in sorted(namespaces):
            obj = self.get_or_none(NAMESPACE, namespace, None)
            labels = (obj or {}).get("metadata", {}).get("labels") or {}
            if obj is not None:
                if labels.get(ROLE_LABEL) == "organization":
                    found[namespace] = labels.get(ORGANIZATION_LABEL, "")
                continue
            config = self.get_or_none(CONFIG_MAP, ORGANIZATION_CONFIG_MAP, namespace)
            if config is not None and (organization := (config.get("data") or {}).get("organization")):
                found[namespace] = organization
        return found

    def admin_kubeconfig(self, cluster: str, namespace: str) -> str:
        """The guest's ``<cluster>-kubeconfig`` Secret (the shared ``system:masters`` credential)."""
        import base64

        try:
            secret = self.call(
                "get", SECRET, namespace, lambda: self.client.get(SECRET, f"{cluster}-kubeconfig", namespace)
            )
        except Forbidden as error:
            raise Forbidden(
                f"{error.message}\n  The admin kubeconfig is the guest's shared system:masters credential, for "
                f"platform admins; get your own with `kubectl kubeception login {cluster} -n {namespace}`."
            ) from error
        value = (secret.get("data") or {}).get("value")
        if not value:
            raise NotFound(f"Secret {namespace}/{cluster}-kubeconfig has no key 'value'")
        return base64.b64decode(value).decode()

    def whoami(self) -> tuple[str, list[str]]:
        """The name and groups the mother authenticated (a SelfSubjectReview, which every authenticated user may
        make): the name a credential is for, never one typed in."""
        try:
            review = self.client.request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
        except ApiError as error:
            raise explain(
                error, verb="create", what="selfsubjectreviews.authentication.k8s.io", namespace=""
            ) from error
        info = review.get("status", {}).get("userInfo", {})
        return str(info.get("username", "")), list(info.get("groups") or [])
