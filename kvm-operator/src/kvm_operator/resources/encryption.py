"""Encryption at rest for the guest's Secrets: an EncryptionConfiguration with a key of this cluster's own
(AES-GCM would need rotation before 2^32 writes; secretbox has no such limit). The key is generated once and never
rewritten — a new key would make every stored Secret unreadable — so this step only creates."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

import yaml

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object

FILE = "encryption-config.yaml"


def encryption_config(secret_key: bytes) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "EncryptionConfiguration",
            "resources": [
                {
                    "resources": ["secrets"],
                    "providers": [
                        {"secretbox": {"keys": [{"name": "key1", "secret": base64.b64encode(secret_key).decode()}]}},
                        {"identity": {}},
                    ],
                }
            ],
        }
    )


class EncryptionKey(ClusterObject):
    kind = SECRET

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": key.metadata(cluster, key.ENCRYPTION_SECRET),
            "type": "Opaque",
        }

    def differs(self, current: Object, desired: Object) -> bool:
        return False  # the key stays what it was created with

    def create(self, ctx: KVMContext, state: Object) -> None:
        ctx.create(SECRET, {**state, "stringData": {FILE: encryption_config(os.urandom(32))}})
