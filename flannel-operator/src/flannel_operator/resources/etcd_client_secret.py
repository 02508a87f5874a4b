"""The etcd client certificate flanneld presents, when the mother's etcd requires one. Secrets are read by name,
never listed or watched (watching every Secret of the mother cluster would need list/watch on all of them)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources._object import ClusterObject
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object


class EtcdClientSecret(ClusterObject):
    kind = SECRET

    def manifest(self, ctx: FlannelContext) -> Object | None:
        files = self.shared.etcd.tls_files()
        if files is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": key.ETCD_CLIENT_SECRET,
                "namespace": key.namespace(ctx.name),
                "labels": key.labels(ctx.name),
            },
            "stringData": files,
        }

    def current_state(self, ctx: FlannelContext) -> Object | None:
        if self.shared.etcd.tls_files() is None:
            return None
        return ctx.client.get_or_none(SECRET, key.ETCD_CLIENT_SECRET, key.namespace(ctx.name))

    def differs(self, current: Object, desired: Object) -> bool:
        # The API server returns stringData as base64 data: compare that.
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in desired["stringData"].items()}
        return current.get("data") != encoded
