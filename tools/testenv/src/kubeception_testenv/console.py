"""The shared web console in the demo, as a platform runs it: the ``kubeception-console`` chart behind an
authenticating proxy.

The proxy here is HAProxy (it is in the operators image) with HTTP basic authentication against a userlist — a
stand-in for a platform's single sign-on proxy (oauth2-proxy, an OIDC-aware ingress). What matters is what any such
proxy must do, and what :func:`front_proxy_config` does: drop whatever ``X-Remote-User``/``X-Remote-Group`` the
client sent, name the authenticated person and their groups, and reach the console with the proxy's client
certificate (nothing else can name a person to the console). It runs on the first real node's host network, on a
port guests' VMs may not reach (it is not one of the platform's ``guestEndpoints``), and reaches the console's
Service through the node's kube-proxy.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
import subprocess
import urllib.request
from typing import TYPE_CHECKING

from kubeception_testenv._pki import LocalPKI
from kubeception_testenv.images import version
from kubeception_testenv.nodes import REAL_NODE_LABEL
from kubeception_testenv.platform import secret
from operatorkit.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from kubeception_testenv.platform import Platform

RELEASE = "kubeception-console"  # the chart and its release, in the platform's namespace
PROXY = "console-front-proxy"  # the proxy's Deployment and its Secret (configuration, client certificate)
PROXY_NAME = "front-proxy"  # the proxy's client certificate's common name: the console's allowed name
PROXY_PORT = 8480  # on the node's address
GROUP = "people"  # every person of the demo's userlist is in it
SERVER_SECRET, CLIENT_CA_SECRET = "console-tls", "console-proxy-ca"


def front_proxy_config(
    listen: str,
    console: str,
    *,
    proxy_pem: str,
    console_ca: str,
    people: Mapping[str, str],
    public_pem: str | None = None,
) -> str:
    """HAProxy as the console's authenticating proxy: basic authentication against ``people`` (name -> crypt(3)
    hash, each in group :data:`GROUP`), the client's own ``X-Remote-*`` dropped, the person and group named, the
    console (``console``: host:port, TLS verified against ``console_ca``) reached with ``proxy_pem`` (certificate
    and key). Serving TLS with ``public_pem`` (certificate and key; None: plain HTTP, for a test on loopback).
    docs/kubectl-plugin.md shows it."""
    tls = f" ssl crt {public_pem}" if public_pem else ""
    users = "".join(f"    user {name} password {hashed} groups {GROUP}\n" for name, hashed in people.items())
    return f"""global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 130s
userlist people
    group {GROUP}
{users}frontend console
    bind {listen}{tls}
    http-request auth realm kubeception unless {{ http_auth(people) }}
    http-request del-header X-Remote-User
    http-request del-header X-Remote-Group
    http-request set-header X-Remote-User %[http_auth_user]
    http-request add-header X-Remote-Group {GROUP} if {{ http_auth_group(people) {GROUP} }}
    default_backend console
backend console
    server console {console} ssl verify required ca-file {console_ca} crt {proxy_pem} sni str(console)
"""


def crypt_hash(password: str) -> str:
    """SHA-512 crypt(3) (``openssl passwd -6``, as ``mkpasswd -m sha-512`` makes it), for HAProxy's userlist."""
    made = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        raise RuntimeError(f"openssl passwd: {made.stderr.strip()}")
    return made.stdout.strip()


def install(platform: Platform, state: Path, person: str, timeout: float = 240) -> tuple[str, Path, Path]:
    """The chart and its proxy on the first real node; ``person`` may sign in, with a password written to a file
    of the state (kept across installs). Returns once the console answers ``person`` through the proxy: its URL,
    the password's file and the CA of the proxy's certificate."""
    node = platform.ingress_address
    url = f"https://{node}:{PROXY_PORT}"
    pki = LocalPKI(state / "console-pki", keep=True)
    public = pki.issue("public", node, ip_addresses=(node,), server=True)
    service = f"{RELEASE}.{platform.namespace}.svc"
    served = pki.issue("console", "console", dns_names=("console", service), server=True)
    proxy = pki.issue(PROXY_NAME, PROXY_NAME, client=True)
    password_file = state / "console-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12) + "\n")
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    pair = {"tls.crt": served.cert.read_bytes(), "tls.key": served.key.read_bytes()}
    platform.apply(
        secret(SERVER_SECRET, platform.namespace, pair, "kubernetes.io/tls"),
        secret(CLIENT_CA_SECRET, platform.namespace, {"ca.crt": pki.ca.cert.read_bytes()}),
    )
    values = {
        "publicURL": url,
        "tls": {"secretName": SERVER_SECRET},
        "requestheader": {"clientCASecret": CLIENT_CA_SECRET, "allowedNames": [PROXY_NAME]},
        "nodeSelector": {REAL_NODE_LABEL: "real"},
    }
    platform.helm_install(RELEASE, values)
    cluster_ip = platform.kubectl("get", "service", "-n", platform.namespace, RELEASE, "-o=jsonpath={.spec.clusterIP}")
    config = front_proxy_config(
        f"{node}:{PROXY_PORT}",
        f"{cluster_ip}:443",
        proxy_pem="/etc/front-proxy/proxy.pem",
        console_ca="/etc/front-proxy/console-ca.crt",
        people={person: crypt_hash(password)},
        public_pem="/etc/front-proxy/public.pem",
    )
    files = {
        "haproxy.cfg": config.encode(),
        "proxy.pem": proxy.cert.read_bytes() + proxy.key.read_bytes(),
        "console-ca.crt": pki.ca.cert.read_bytes(),
        "public.pem": public.cert.read_bytes() + public.key.read_bytes(),
    }
    platform.apply(secret(PROXY, platform.namespace, files), proxy_deployment(platform.namespace, files))
    platform.wait_available(RELEASE, timeout)
    platform.wait_available(PROXY, timeout)
    wait_until(
        lambda: answers(url, person, password, pki.ca.cert),
        timeout=timeout,
        interval=1,
        message=f"the console to answer {person} through its proxy at {url}",
    )
    return url, password_file, pki.ca.cert


def answers(url: str, person: str, password: str, ca: Path) -> bool:
    """The console's home page, through the proxy (verified against ``ca``), signed in as ``person``."""
    request = urllib.request.Request(url + "/")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{person}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context(cafile=ca)) as answer:
            return int(answer.status) == 200
    except OSError:  # refused, reset, or an HTTP error (urllib's HTTPError is one)
        return False


def proxy_deployment(namespace: str, files: Mapping[str, bytes]) -> dict[str, object]:
    """HAProxy from the operators image on the node's host network, as nobody, with nothing to write; its key
    readable by its group only. Its pod is replaced whenever ``files`` (its Secret) change: HAProxy reads them once."""
    labels = {"app.kubernetes.io/name": PROXY}
    checksum = hashlib.sha256(b"".join(files[name] for name in sorted(files))).hexdigest()
    container = {
        "name": "haproxy",
        "image": f"ghcr.io/kubeception/operators:{version()}",  # the console chart's default
        "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/sbin/haproxy", "-db", "-f", "/etc/front-proxy/haproxy.cfg"],
        "ports": [{"name": "https", "containerPort": PROXY_PORT}],
        "readinessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/front-proxy", "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": PROXY, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one port on one node's address
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"checksum/secret": checksum}},
                "spec": {
                    "hostNetwork": True,
                    "nodeSelector": {REAL_NODE_LABEL: "real"},
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "fsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "config", "secret": {"secretName": PROXY, "defaultMode": 0o440}}],
                },
            },
        },
    }
