"""The Ignition configs instances boot from (the launch templates' user data points at them in the bucket).

A config lists the role's encrypted certificates as files fetched from S3, the cluster's facts a node needs
(``/etc/kubeception/node.json``: id, version, API hostname, labels, taints) and a unit that decrypts the
certificates with the cluster's KMS key (the instance role may decrypt, nothing else may read them). Nothing in
it is secret, so it is stored in plain text; it changes only when those facts change.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aws_operator import key

DECRYPT_UNIT = """[Unit]
Description=Decrypt the cluster's certificates with its KMS key
Before=kubelet.service
ConditionPathExists=!/etc/kubernetes/ssl/.decrypted

[Service]
Type=oneshot
RemainAfterExit=true
ExecStart=/opt/kubeception/bin/decrypt-certificates /etc/kubernetes/ssl
ExecStartPost=/usr/bin/touch /etc/kubernetes/ssl/.decrypted

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class NodeFacts:
    cluster_id: str
    role: str
    kubernetes_version: str
    api_hostname: str
    bucket: str
    key_arn: str
    labels: dict[str, str]
    taints: list[str]
    certificates: tuple[str, ...]


def _data_url(text: str) -> str:
    return "data:;base64," + base64.b64encode(text.encode()).decode()


def render(facts: NodeFacts) -> bytes:
    node = {
        "clusterID": facts.cluster_id,
        "role": facts.role,
        "kubernetesVersion": facts.kubernetes_version,
        "apiServer": f"https://{facts.api_hostname}",
        "kmsKey": facts.key_arn,
        "labels": facts.labels,
        "taints": facts.taints,
    }
    files: list[dict[str, Any]] = [
        {
            "path": "/etc/kubeception/node.json",
            "mode": 0o644,
            "contents": {"source": _data_url(json.dumps(node, sort_keys=True))},
        },
        *(
            {
                "path": f"/etc/kubernetes/ssl/{name}.enc",
                "mode": 0o600,
                "contents": {"source": f"s3://{facts.bucket}/{key.certificate_object(name)}"},
            }
            for name in facts.certificates
        ),
    ]
    config = {
        "ignition": {"version": "3.4.0"},
        "storage": {"files": files},
        "systemd": {"units": [{"name": "decrypt-certificates.service", "enabled": True, "contents": DECRYPT_UNIT}]},
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]
