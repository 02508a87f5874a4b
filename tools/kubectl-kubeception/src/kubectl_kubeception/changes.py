"""The console's changes — create a cluster, scale a pool, upgrade — from a form's fields to the manifest or merge
patch the plugin's ``create`` / ``scale`` / ``upgrade cluster`` commands send (:mod:`kubectl_kubeception.manifests`,
one source for both), the command line that does the same, and the fields the confirmation form carries back. Pure:
the console previews a change with a server-side dry run and applies it only from the preview, only if the cluster
has not changed since.

Every field is a person's input: checked for type, size and format here before anything reaches the mother.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kubectl_kubeception import manifests
from kubectl_kubeception.manifests import MAX_WORKERS
from kubectl_kubeception.mother import CLUSTER_KINDS, Invalid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from operatorkit import Object

Action = Literal["scale", "upgrade", "create"]
ACTIONS: tuple[Action, ...] = ("scale", "upgrade")  # of an existing cluster
WORKERS = re.compile(r"^[0-9]{1,3}$")
RESOURCE_VERSION = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class Change:
    """A change as previewed: what it does in words, the patch, the command line, the form's fields for applying."""

    action: Action
    said: str
    patch: Object
    cli: str
    fields: Mapping[str, str]


def field(fields: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str, size: int = 63) -> str:
    """Field ``name``, which must match ``pattern`` within ``size`` characters; else :class:`Invalid` saying
    ``what``."""
    value = fields.get(name, "").strip()
    if len(value) > size or not pattern.match(value):
        raise Invalid(f"{what}: {value[:64]!r} is not one")
    return value


def pools(obj: Object) -> list[tuple[str, int]]:
    """The cluster's pools and their sizes: a KVM pool's replicas, an AWS pool's desired capacity."""
    size = "replicas" if obj.get("kind") == "KVMConfig" else "desired"
    return [(str(p.get("name")), int(p.get(size, 1))) for p in (obj.get("spec") or {}).get("workerPools") or []]


def planned(obj: Object, action: str, fields: Mapping[str, str]) -> Change:
    """The change ``action`` with ``fields`` would make to ``obj`` as read; :class:`Invalid` for a field that is not
    one, or a change the plugin's commands refuse (a skipped minor, a downgrade, no such pool)."""
    meta = obj["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    chosen: Action
    if action == "scale":
        chosen = "scale"
        pool = field(fields, "pool", manifests.NAME, "a pool's name")
        workers = workers_field(fields)
        patch, said = manifests.scaled(obj, workers, pool)
        cli = shlex.join(["kubectl", "kubeception", "scale", "cluster", name, "-n", namespace, "--pool", pool,
                          "--workers", str(workers)])  # fmt: skip
        kept = {"pool": pool, "workers": str(workers)}
    elif action == "upgrade":
        chosen = "upgrade"
        version = field(fields, "version", manifests.VERSION, "a Kubernetes version (like 1.36.3)")
        patch, said = manifests.upgraded(obj, version)
        cli = shlex.join(["kubectl", "kubeception", "upgrade", "cluster", name, "-n", namespace, "--to", version])
        kept = {"version": version}
    else:
        raise Invalid(f"no change {action[:32]!r}: the console scales and upgrades ({', '.join(ACTIONS)})")
    return Change(chosen, said, patch, cli, {**kept, "resourceVersion": str(meta["resourceVersion"])})


ACCESS_LEVELS = ("view", "edit", "admin", "masters")  # the plugin's `login --access`
TTLS = (("15m", "15 minutes"), ("1h", "1 hour"), ("8h", "8 hours"))
MAX_URL = 256
URL = re.compile(r"^https://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?$")


@dataclass(frozen=True)
class LoginForm:
    access: str
    ttl: str
    server: str | None


def login_form(fields: Mapping[str, str]) -> LoginForm:
    """The log-in form's fields, checked: an access level the plugin offers, one of the offered lifetimes, and an
    optional https URL for the API (the cluster's endpoint otherwise)."""
    access = fields.get("access", "")
    if access not in ACCESS_LEVELS:
        raise Invalid(f"access: {access[:32]!r} is not one of {', '.join(ACCESS_LEVELS)}")
    ttl = fields.get("ttl", "")
    if ttl not in dict(TTLS):
        raise Invalid(f"lifetime: {ttl[:32]!r} is not one of {', '.join(dict(TTLS))}")
    server = fields.get("server", "").strip()
    if server and (len(server) > MAX_URL or not URL.match(server)):
        raise Invalid(f"API address: {server[:64]!r} is not an https URL")
    return LoginForm(access, ttl, server or None)


def workers_field(fields: Mapping[str, str]) -> int:
    workers = int(field(fields, "workers", WORKERS, "a number of workers"))
    if workers > MAX_WORKERS:
        raise Invalid(f"a number of workers: at most {MAX_WORKERS}, not {workers}")
    return workers


def new_cluster(namespace: str, fields: Mapping[str, str]) -> Change:
    """A guest as ``create cluster`` makes it (its name its cluster id, one pool ``default``): a KVM guest, or with
    ``kind`` aws an AWS one (the AWS fields are read for it only): the manifest, the command line, the fields the
    confirmation carries (the same fields plan the same cluster)."""
    kind = fields.get("kind", "kvm")  # create cluster's default --kind
    if kind not in CLUSTER_KINDS:
        raise Invalid(f"a kind of cluster: {kind[:32]!r} is not one of {', '.join(CLUSTER_KINDS)}")
    name = field(fields, "name", manifests.NAME, "a cluster's name (lowercase letters, digits, '-')")
    if len(name) > manifests.MAX_CLUSTER_ID:
        raise Invalid(f"a cluster's name: at most {manifests.MAX_CLUSTER_ID} characters (it is the cluster id)")
    version = field(fields, "version", manifests.VERSION, "a Kubernetes version (like 1.36.3)")
    workers = workers_field(fields)
    replicas = fields.get("replicas", "")
    if replicas not in manifests.CONTROL_PLANE_REPLICAS:
        raise Invalid(f"control-plane replicas: {replicas[:8]!r} is not 1 or 3")
    command = ["kubectl", "kubeception", "create", "cluster", name, "-n", namespace]
    flags = ["--version", version, "--workers", str(workers), "--replicas", replicas]
    kept = {"kind": kind, "name": name, "version": version, "workers": str(workers), "replicas": replicas}
    if kind == "kvm":
        obj = manifests.kvm_config(name, namespace, version=version, workers=workers, pool="default", cpus=None,
                                   memory=None, replicas=int(replicas))  # fmt: skip
        said = f"a KVM guest cluster {name}: Kubernetes {version}, {workers} workers, {replicas} control-plane replicas"
        return Change("create", said, obj, shlex.join(command + flags), kept)
    region = field(fields, "region", manifests.REGION, "an AWS region (like eu-central-1)", manifests.MAX_REGION)
    zones = tuple(fields.get("zones", "").replace(",", " ").split())
    manifests.check_zones(region, zones)
    credentials = field(fields, "credentials", manifests.NAME, "the credentials Secret's name (lowercase letters, "
                        "digits, '-')", manifests.MAX_SECRET_NAME)  # fmt: skip
    instance_type = None
    if fields.get("instanceType", "").strip():
        instance_type = field(fields, "instanceType", manifests.INSTANCE_TYPE, "an instance type (like m5.large)",
                              manifests.MAX_INSTANCE_TYPE)  # fmt: skip
    obj = manifests.aws_config(name, namespace, version=version, workers=workers, pool="default",
                               replicas=int(replicas), region=region, zones=zones, credentials=credentials,
                               instance_type=instance_type)  # fmt: skip
    flags = ["--kind", "aws", *flags, "--region", region, *(f for zone in zones for f in ("--zone", zone)),
             "--credentials-secret", credentials]  # fmt: skip
    if instance_type:
        flags += ["--instance-type", instance_type]
    said = (f"an AWS guest cluster {name} in {region} ({', '.join(obj['spec']['availabilityZones'])}): Kubernetes "
            f"{version}, {workers} workers{f' ({instance_type})' if instance_type else ''}, {replicas} control-plane "
            f"replicas, the account's role from Secret {credentials}")  # fmt: skip
    kept |= {"region": region, "zones": " ".join(zones), "credentials": credentials}
    kept["instanceType"] = instance_type or ""
    return Change("create", said, obj, shlex.join(command + flags), kept)


def unchanged_since_preview(obj: Object, fields: Mapping[str, str]) -> bool:
    """Whether ``obj`` is the version the person previewed (applying anything else would apply what they did not
    see: another person's change made meanwhile)."""
    previewed = field(fields, "resourceVersion", RESOURCE_VERSION, "the previewed version")
    return str(obj["metadata"]["resourceVersion"]) == previewed
