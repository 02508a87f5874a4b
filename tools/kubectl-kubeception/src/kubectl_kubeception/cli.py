"""The commands (click: help, shell completion, usage errors). Each command is a thin shell over the pure modules and
:class:`~kubectl_kubeception.mother.Mother`."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from kubectl_kubeception import clusters, console, kubeconfigs, login, manifests, shared_console, tree
from kubectl_kubeception.mother import (
    AWS_CONFIG,
    CLUSTER_KINDS,
    KVM_CONFIG,
    Invalid,
    Mother,
)
from operatorkit.timestamps import now

if TYPE_CHECKING:
    from collections.abc import Callable

    from click.shell_completion import CompletionItem


EPILOG = """\b
Exit codes: 0 done; 1 another error; 2 a usage error; 3 not found; 4 forbidden (the message names the permission);
5 refused as invalid (by the CRD, an admission policy or the checks here); 6 a credential refused by its issuer;
7 timed out waiting for an answer.
"""


WORKERS = click.IntRange(0, manifests.MAX_WORKERS)  # a pool's size, as the console takes it too


class Aliases(click.Group):
    """``get cluster`` and ``get clusters`` alike, as kubectl takes singular and plural."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in ("cluster", "clusters"):
            found = super().get_command(ctx, "clusters" if cmd_name == "cluster" else "cluster")
        return found


def mother_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--kubeconfig``, ``--context`` and ``-n`` on every command (anywhere on the line, like kubectl's), turned into
    a connected :class:`Mother` and the namespace to use."""

    @click.option("--kubeconfig", envvar=None, help="The mother's kubeconfig (default: $KUBECONFIG, ~/.kube/config).")
    @click.option("--context", "context_name", help="The kubeconfig context of the mother (default: the current one).")
    @click.option(
        "-n", "--namespace", help="The organization's namespace (default: the context's namespace, else default)."
    )
    @functools.wraps(command)
    def wrapper(kubeconfig: str | None, context_name: str | None, namespace: str | None, **kwargs: Any) -> None:
        namespace = namespace or kubeconfigs.namespace_of(kubeconfig, context_name)
        click.get_current_context().meta["kubeconfig"] = kubeconfig  # where `login` merges, as `kubectl config` would
        if kubeconfig is None:  # a kubeconfig before the pod's service account, as kubectl chooses
            kubeconfig = os.pathsep.join(str(p) for p in kubeconfigs.paths(None) if p.exists()) or None
        command(Mother.connect(kubeconfig, context_name), namespace, **kwargs)

    return wrapper


def complete_cluster(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Cluster names of the namespace, for shell completion (nothing when the mother does not answer)."""
    from click.shell_completion import CompletionItem

    try:
        params = ctx.params
        namespace = params.get("namespace") or kubeconfigs.namespace_of(
            params.get("kubeconfig"), params.get("context_name")
        )
        mother = Mother.connect(params.get("kubeconfig"), params.get("context_name"))
        names = {o["metadata"]["name"] for kind in CLUSTER_KINDS.values() for o in mother.list_objects(kind, namespace)}
    except Exception:  # completion must never fail loudly
        return []
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


def printed(obj: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(obj, indent=4))
    else:
        click.echo(yaml.safe_dump(obj, sort_keys=False), nl=False)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}, epilog=EPILOG, cls=Aliases
)
@click.version_option(package_name="kubectl-kubeception")
def cli() -> None:
    """Your team's guest clusters on a kubeception mother: list and describe them, create, scale and upgrade them,
    and log in to one with a short-lived certificate of your own.

    It talks to the mother with your kubeconfig's current context (or --kubeconfig, --context) in your organization's
    namespace (-n org-<name>, or the context's namespace). What you may do is what your organization's RoleBinding
    grants: kubeception:cluster-viewer reads, kubeception:cluster-admin creates, scales, upgrades and logs in.

    Shell completion: `source <(_KUBECTL_KUBECEPTION_COMPLETE=bash_source kubectl-kubeception)` (zsh_source,
    fish_source); kubectl itself completes `kubectl kubeception ...` through kubectl_complete-kubeception.
    """


@cli.group(cls=Aliases)
def get() -> None:
    """List clusters."""


@get.command("clusters")
@mother_options
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace you may list (platform admins).")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml", "name"]), default="table")
def get_clusters(mother: Mother, namespace: str, all_namespaces: bool, output: str) -> None:
    """KVM and AWS guests in one table: organization, name, kind, version (running→wanted during an upgrade),
    workers (ready/desired), Ready, API endpoint, age. -o wide adds the cluster id, control plane, region and the
    Ready reason; -o json|yaml prints the objects."""
    where = None if all_namespaces else namespace
    items = [item for kind in (KVM_CONFIG, AWS_CONFIG) for item in mother.installed(kind, where)]
    if output in ("json", "yaml"):
        printed(clusters.as_list(items), output)
        return
    if output == "name":
        for item in items:
            click.echo(f"{item['kind'].lower()}.kubeception.io/{item['metadata']['name']}")
        return
    if not items:
        click.echo("No clusters found" + ("." if all_namespaces else f" in namespace {namespace}."), err=True)
        return
    summaries = [clusters.summarize(item) for item in items]
    organizations = mother.organizations({c.namespace for c in summaries})
    click.echo(clusters.table(summaries, organizations, now(), all_namespaces=all_namespaces, wide=output == "wide"))


@cli.group(cls=Aliases)
def describe() -> None:
    """Show one cluster in detail."""


@describe.command("cluster")
@mother_options
@click.argument("name", shell_complete=complete_cluster)
@click.option("--kind", type=click.Choice(sorted(CLUSTER_KINDS)), help="Only this kind (default: KVM, then AWS).")
@click.option("-o", "--output", type=click.Choice(["tree", "json", "yaml"]), default="tree")
def describe_cluster(mother: Mother, namespace: str, name: str, kind: str | None, output: str) -> None:
    """The cluster as a tree of conditions, like `clusterctl describe cluster`: its own conditions, the children its
    operator made (CAConfig, CertConfigs, FlannelConfig, IngressConfig — shown as unreadable where your role does not
    let you read them), its worker pools and nodes, its add-ons. A row that is not Ready shows why."""
    obj = mother.find_cluster(name, namespace, kind)
    if output != "tree":
        printed(obj, output)
        return
    root = mother.cluster_tree(obj)
    click.echo(tree.render(root, now()))


@cli.group(cls=Aliases)
def create() -> None:
    """Create a cluster."""


@create.command("cluster")
@mother_options
@click.argument("name")
@click.option("--kind", type=click.Choice(sorted(CLUSTER_KINDS)), default="kvm", show_default=True)
@click.option("--version", "version", help="Kubernetes version, e.g. 1.36.3 (required without --from-file).")
@click.option("--workers", type=WORKERS, default=1, show_default=True, help="Workers in the pool.")
@click.option("--pool", default="default", show_default=True, help="The worker pool's name.")
@click.option(
    "--replicas",
    type=click.Choice(manifests.CONTROL_PLANE_REPLICAS),
    default="1",
    show_default=True,
    help="Control-plane replicas.",
)
@click.option("--cpus", type=click.IntRange(1, 64), help="KVM: virtual CPUs per worker VM (default 2).")
@click.option("--memory", help="KVM: memory per worker VM, e.g. 2Gi (default 2Gi).")
@click.option("--region", default=manifests.AWS_REGION, show_default=True, help="AWS: the region.")
@click.option("--zone", "zones", multiple=True, help="AWS: an availability zone (repeat; default <region>a).")
@click.option(
    "--credentials-secret", default=manifests.AWS_CREDENTIALS, show_default=True, help="AWS: the account's Secret."
)
@click.option("--instance-type", help="AWS: the workers' instance type (default m5.large).")
@click.option(
    "-f", "--from-file", "from_file", type=click.File(), help="A KVMConfig or AWSConfig manifest (- for stdin)."
)
@click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    show_default=True,
    help="client: print only; server: the API server validates and admits it without storing it.",
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), help="Print the manifest (what was stored).")
def create_cluster(
    mother: Mother,
    namespace: str,
    name: str,
    kind: str,
    version: str | None,
    workers: int,
    pool: str,
    replicas: str,
    cpus: int | None,
    memory: str | None,
    region: str,
    zones: tuple[str, ...],
    credentials_secret: str,
    instance_type: str | None,
    from_file: Any,
    dry_run: str,
    output: str | None,
) -> None:
    """Create cluster NAME (its cluster id too) from flags, or from a manifest with --from-file (NAME and -n then
    replace the file's). `--dry-run=client -o yaml` prints the manifest to keep or edit. The CRD and your
    organization's quota judge it; their refusal is printed as the API server gives it."""
    if not manifests.NAME.match(name) or len(name) > manifests.MAX_CLUSTER_ID:
        raise click.BadParameter(
            f"at most {manifests.MAX_CLUSTER_ID} lowercase letters, digits and '-' (it is the cluster id)",
            param_hint="NAME",
        )
    if from_file is not None:
        obj = yaml.safe_load(from_file.read()) or {}
        if obj.get("kind") not in ("KVMConfig", "AWSConfig"):
            raise Invalid(f"{from_file.name}: not a KVMConfig or AWSConfig (kind {obj.get('kind')!r})")
        obj.setdefault("apiVersion", "kubeception.io/v1alpha1")
        obj["metadata"] = {**(obj.get("metadata") or {}), "name": name, "namespace": namespace}
        obj.setdefault("spec", {})["clusterID"] = name
        if version is not None:
            manifests.check_version(version)
            obj["spec"]["kubernetesVersion"] = version
    else:
        if version is None:
            raise click.UsageError("--version is required (e.g. --version 1.36.3), or give --from-file")
        manifests.check_version(version)
        if kind == "kvm":
            obj = manifests.kvm_config(
                name, namespace, version=version, workers=workers, pool=pool, cpus=cpus, memory=memory,
                replicas=int(replicas),
            )  # fmt: skip
        else:
            manifests.check_zones(region, zones)
            obj = manifests.aws_config(
                name, namespace, version=version, workers=workers, pool=pool, replicas=int(replicas), region=region,
                zones=zones, credentials=credentials_secret, instance_type=instance_type,
            )  # fmt: skip
    target = KVM_CONFIG if obj["kind"] == "KVMConfig" else AWS_CONFIG
    if dry_run == "client":
        if output:
            printed(obj, output)
        else:
            click.echo(f"{target.kind.lower()}.kubeception.io/{name} created (dry run)")
        return
    made = mother.call(
        "create",
        target,
        namespace,
        lambda: mother.client.create(target, obj, namespace, dry_run=dry_run == "server"),
    )
    if output:
        printed(made, output)
    else:
        suffix = " (server dry run)" if dry_run == "server" else ""
        click.echo(f"{target.kind.lower()}.kubeception.io/{name} created{suffix}")
        if not suffix:
            click.echo(f"watch it: kubectl kubeception describe cluster {name} -n {namespace}")


CONFIRM_DELETE = "kubeception.io/confirm-delete"  # charts/kubeception-organizations' deletion protection


@cli.group(cls=Aliases)
def scale() -> None:
    """Change a cluster's workers."""


@scale.command("cluster")
@mother_options
@click.argument("name", shell_complete=complete_cluster)
@click.option("--workers", type=WORKERS, required=True, help="Workers the pool should have.")
@click.option("--pool", help="The pool (needed when the cluster has more than one).")
def scale_cluster(mother: Mother, namespace: str, name: str, workers: int, pool: str | None) -> None:
    """Set a worker pool's size: a KVM pool's replicas (VMs are added, or drained and removed), an AWS pool's desired
    capacity (its maxSize raised, or minSize lowered, when needed). Your organization's quota may refuse it."""
    obj = mother.find_cluster(name, namespace)
    patch, said = manifests.scaled(obj, workers, pool)
    target = CLUSTER_KINDS["kvm" if obj["kind"] == "KVMConfig" else "aws"]
    mother.call("patch", target, namespace, lambda: mother.client.patch(target, name, patch, namespace))
    click.echo(f"{target.kind.lower()}.kubeception.io/{name} scaled: {said}")


@cli.group(cls=Aliases)
def delete() -> None:
    """Delete a cluster."""


@delete.command("cluster")
@mother_options
@click.argument("name", shell_complete=complete_cluster)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_cluster(mother: Mother, namespace: str, name: str, yes: bool) -> None:
    """Delete cluster NAME and everything it made (control plane, workers, network, certificates, route).

    An organization protects its clusters from a stray `kubectl delete`: a cluster goes only once the annotation
    kubeception.io/confirm-delete names it. This asks you, sets the annotation, then deletes."""
    obj = mother.find_cluster(name, namespace)
    target = CLUSTER_KINDS["kvm" if obj["kind"] == "KVMConfig" else "aws"]
    if not yes:
        click.confirm(f"Delete {obj['kind']} {namespace}/{name} and everything it made?", abort=True)
    confirm = {"metadata": {"annotations": {CONFIRM_DELETE: name}}}
    mother.call("patch", target, namespace, lambda: mother.client.patch(target, name, confirm, namespace))
    uid = obj["metadata"]["uid"]  # the cluster confirmed, not a successor of the same name
    mother.call("delete", target, namespace, lambda: mother.client.delete(target, name, namespace, uid=uid))
    click.echo(f"{target.kind.lower()}.kubeception.io/{name} deleting (confirmed by {CONFIRM_DELETE})")
    click.echo(f"watch it go: kubectl kubeception describe cluster {name} -n {namespace}")


@cli.group(cls=Aliases)
def upgrade() -> None:
    """Change a cluster's Kubernetes version."""


@upgrade.command("cluster")
@mother_options
@click.argument("name", shell_complete=complete_cluster)
@click.option("--to", "version", required=True, help="The Kubernetes version to run, e.g. 1.36.3.")
def upgrade_cluster(mother: Mother, namespace: str, name: str, version: str) -> None:
    """Ask for another Kubernetes version. Refused here: a version the CRD refuses, a minor downgrade, a skipped
    minor. The operator rolls the control plane, then the workers, and refuses a version it has no images for with
    the condition Upgrading=False VersionRefused, which lists the supported ones (see `describe cluster`)."""
    obj = mother.find_cluster(name, namespace)
    patch, said = manifests.upgraded(obj, version)
    target = CLUSTER_KINDS["kvm" if obj["kind"] == "KVMConfig" else "aws"]
    mother.call("patch", target, namespace, lambda: mother.client.patch(target, name, patch, namespace))
    click.echo(f"{target.kind.lower()}.kubeception.io/{name} upgrading: {said}")
    click.echo(f"watch it: kubectl kubeception describe cluster {name} -n {namespace}")


@cli.command("login")
@mother_options
@click.argument("cluster", shell_complete=complete_cluster)
@click.option(
    "--ttl",
    default="1h",
    show_default=True,
    help="How long the certificate lasts (m or h), at most your organization's maximum.",
)
@click.option(
    "--access",
    type=click.Choice(["view", "edit", "admin", "masters"]),
    default="view",
    show_default=True,
    help="The guest ClusterRole you get (masters: system:masters, where your organization allows it).",
)
@click.option(
    "--key-type", type=click.Choice(["ec", "rsa"]), default="ec", show_default=True, help="EC P-256 or RSA 2048."
)
@click.option(
    "--kubeconfig-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the context here (default: merge into --kubeconfig, else $KUBECONFIG's first file, ~/.kube/config).",
)
@click.option("--server", help="The guest API's URL to use instead of the cluster's endpoint (its name stays for SNI).")
@click.option("--switch/--no-switch", default=False, help="Make it the current context (a new file always is).")
@click.option(
    "--timeout", type=click.FloatRange(1, 3600), default=60, show_default=True, help="Seconds to wait for the issuer."
)
def login_command(
    mother: Mother,
    namespace: str,
    cluster: str,
    ttl: str,
    access: str,
    key_type: login.KeyType,
    kubeconfig_out: Path | None,
    server: str | None,
    switch: bool,
    timeout: float,
) -> None:
    """Get a client certificate for guest CLUSTER, for your own mother identity, and write a kubeconfig context
    <cluster>-<you> for it.

    The private key is made here and never sent: the mother gets a GuestCredentialRequest with its CSR; the name and
    groups in it are the ones the mother authenticated (its admission sets them), cert-operator signs the CSR with the
    guest's CA. The kubeconfig is written 0600. Unlike `kubeconfig`, the certificate is yours, short-lived, and
    revoked when the request is deleted."""
    said = functools.partial(click.echo, err=True)
    made = login.obtain(
        mother, namespace, cluster, access=access, ttl=ttl, key_type=key_type, server=server, timeout=timeout, said=said
    )
    issued, context = made.issued, made.context
    path = kubeconfig_out or kubeconfigs.paths(click.get_current_context().meta.get("kubeconfig"))[0]
    existing = kubeconfigs.load(path)
    kubeconfigs.write(
        path,
        kubeconfigs.with_context(existing, name=context, cluster=made.cluster, user=made.user, switch=switch),
    )
    click.echo(f"context {context} written to {path} (certificate {issued.serial}, valid until {issued.not_after})")
    hint = (
        f"kubectl --kubeconfig {path} --context {context} get nodes"
        if existing
        else f"KUBECONFIG={path} kubectl get nodes"
    )
    click.echo(f"use it: {hint}")


@cli.command("kubeconfig")
@mother_options
@click.argument("cluster", shell_complete=complete_cluster)
@click.option("--server", help="Replace the server URL (keeping its TLS server name), e.g. an address of the ingress.")
def kubeconfig_command(mother: Mother, namespace: str, cluster: str, server: str | None) -> None:
    """For platform admins: print the guest's admin kubeconfig, from the Secret <cluster>-kubeconfig.

    It is the guest's shared system:masters credential (long-lived, the same for everyone who reads it, not revocable
    one person at a time); organization members cannot read Secrets and use `login` instead."""
    text = mother.admin_kubeconfig(cluster, namespace)
    if server:
        config = yaml.safe_load(text)
        for entry in config.get("clusters") or []:
            entry["cluster"]["server"] = server
        text = yaml.safe_dump(config, sort_keys=False)
    click.echo(text, nl=not text.endswith("\n"))


def check_prometheus(prometheus: str) -> None:
    if prometheus and not prometheus.startswith(("http://", "https://")):
        raise click.BadParameter(f"{prometheus!r} is not an http(s) URL", param_hint="--prometheus")


def serve_until_interrupted(server: console.ConsoleServer) -> None:
    """Serve until Ctrl-C (or SIGINT), then let the port go."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@cli.command("console")
@mother_options
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="The port on 127.0.0.1 (0: a free one)."
)
@click.option(
    "--prometheus",
    envvar="KUBECEPTION_PROMETHEUS_URL",
    default="",
    help="The platform's Prometheus, for the reconcile-health page [default: $KUBECEPTION_PROMETHEUS_URL].",
)
def console_command(mother: Mother, namespace: str, port: int, prometheus: str) -> None:
    """A web console on 127.0.0.1: your organizations, their clusters (the `get clusters` table), each cluster's page
    (the `describe cluster` tree, its recent Events, the command for the page, forms to scale and upgrade it, each
    previewed in a dry run first), and the operators' reconcile health from Prometheus.

    It reads with your kubeconfig, so it shows what you may read and names what you may not. Who may not list
    namespaces sees the organization of -n (or the context's namespace) and opens others by name. Open the address it
    prints: its token, exchanged for a cookie on the first visit, keeps others on this machine out. Ctrl-C stops it."""
    check_prometheus(prometheus)
    server = console.serve(mother, [namespace], port, prometheus)
    click.echo(f"console: {server.url}")
    click.echo("(acting with your kubeconfig; Ctrl-C stops it)", err=True)
    sys.stdout.flush()
    serve_until_interrupted(server)


@cli.command("serve-console")
@click.option("--kubeconfig", help="The console's own credentials (default: the pod's service account).")
@click.option("--listen", default="0.0.0.0:8443", show_default=True, help="The address and port to serve TLS on.")
@click.option("--tls-cert-file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--tls-private-key-file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option(
    "--requestheader-client-ca-file",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The CA of the authenticating proxy's client certificate (as kube-apiserver's flag).",
)
@click.option(
    "--requestheader-allowed-names",
    default="",
    help="The proxy certificate's common names, comma-separated (empty: any the CA signed).",
)
@click.option("--public-url", required=True, help="The console's address as browsers see it (posts' Origin).")
@click.option("--prometheus", envvar="KUBECEPTION_PROMETHEUS_URL", default="", help="The platform's Prometheus.")
def serve_console_command(
    kubeconfig: str | None,
    listen: str,
    tls_cert_file: str,
    tls_private_key_file: str,
    requestheader_client_ca_file: str,
    requestheader_allowed_names: str,
    public_url: str,
    prometheus: str,
) -> None:
    """The console as a shared service behind the platform's authenticating proxy, acting as each person by
    impersonation (the kubeception-console chart runs it; docs/kubectl-plugin.md#a-shared-console)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{listen!r} is not <address>:<port>", param_hint="--listen")
    check_prometheus(prometheus)
    if not public_url.startswith("https://"):
        raise click.BadParameter(f"{public_url!r} is not an https URL", param_hint="--public-url")
    context = shared_console.tls_context(
        Path(tls_cert_file), Path(tls_private_key_file), Path(requestheader_client_ca_file)
    )
    allowed = frozenset(n.strip() for n in requestheader_allowed_names.split(",") if n.strip())
    server = shared_console.SharedServer(
        Mother.connect(kubeconfig, None), (host.strip("[]"), int(port)), context, origin=public_url,
        allowed=allowed, prometheus=prometheus,
    )  # fmt: skip
    click.echo(f"console: serving {public_url} on {listen}", err=True)
    serve_until_interrupted(server)


def main() -> None:
    cli.main(prog_name="kubectl kubeception", complete_var="_KUBECTL_KUBECEPTION_COMPLETE")


def complete() -> None:
    """``kubectl_complete-kubeception``: kubectl (1.26+) runs it with the words after ``kubectl kubeception`` and the
    word being completed; it prints one candidate per line and cobra's directive (4: no file completion)."""
    from click.shell_completion import ShellComplete

    words = [w for w in sys.argv[1:] if w != "__complete"]
    args, incomplete = words[:-1], words[-1] if words else ""
    completer = ShellComplete(cli, {}, "kubectl kubeception", "_KUBECTL_KUBECEPTION_COMPLETE")
    for item in completer.get_completions(args, incomplete):
        click.echo(item.value)
    click.echo(":4")
