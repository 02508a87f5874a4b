"""The guest-cluster kit, without a server: the certificate sets the two operators take (the order they are made
in), the CAConfig and CertConfigs a GuestPKI renders, the kubeconfig text (the files already written keep their
bytes), and a pool's node labels."""

from __future__ import annotations

import base64

import pydantic
import pytest
import yaml

import guestkit
from aws_operator import key as aws_key
from kvm_operator import key as kvm_key

KUBEADM = [
    "etcd-server",
    "etcd-peer",
    "apiserver",
    "apiserver-etcd-client",
    "apiserver-kubelet-client",
    "front-proxy-client",
    "service-accounts",
    "controller-manager",
    "scheduler",
    "admin",
]


def test_each_operator_takes_kubeadms_set_with_what_its_nodes_need():
    assert list(kvm_key.CERTIFICATES) == KUBEADM
    assert list(aws_key.CERTIFICATES) == [n for n in KUBEADM if n != "front-proxy-client"] + ["kubelet-bootstrap"]
    assert kvm_key.CERTIFICATES["admin"] == ("admin", "kubernetes-admin")  # O=system:masters from the role
    assert aws_key.CERTIFICATES["kubelet-bootstrap"] == ("bootstrap", "kubelet-bootstrap")


def pki(**overrides) -> guestkit.GuestPKI:
    return guestkit.GuestPKI(
        **{
            "cluster_id": "blue",
            "namespace": "blue",
            "labels": {"kubeception.io/cluster": "blue"},
            "certificates": guestkit.certificate_set(),
            "etcd_names": ["etcd", "localhost"],
            "apiserver_names": ["api.blue.example", "kubernetes"],
            "apiserver_ips": ["127.0.0.1", "10.96.0.1"],
            "extra_roles": [guestkit.node_role()],
        }
        | overrides
    )


def test_the_ca_signs_only_what_its_roles_name():
    ca = pki().ca_config()
    roles = {role["name"]: role for role in ca["spec"]["roles"]}
    assert list(roles) == ["etcd", "apiserver", "client", "admin", "node"]
    assert roles["etcd"]["allowedDomains"] == ["etcd", "localhost", "etcd-peer"]
    assert roles["apiserver"]["allowedDomains"] == ["api.blue.example", "kubernetes", "kube-apiserver"]
    assert roles["admin"]["organizations"] == ["system:masters"]
    assert roles["node"]["organizations"] == ["system:nodes"]
    assert ca["metadata"] == {"name": "ca", "namespace": "blue", "labels": {"kubeception.io/cluster": "blue"}}
    assert (ca["spec"]["ttl"], ca["spec"]["keyType"], ca["spec"]["keyBits"]) == ("175200h", "ec", 256)


def test_a_certificate_names_what_its_role_serves():
    apiserver, etcd = pki().cert_config("apiserver")["spec"], pki().cert_config("etcd-peer")["spec"]
    assert apiserver["altNames"] == ["api.blue.example", "kubernetes"]
    assert apiserver["ipSANs"] == ["127.0.0.1", "10.96.0.1"]
    assert (etcd["commonName"], etcd["altNames"], etcd["ipSANs"]) == ("etcd-peer", ["etcd", "localhost"], ["127.0.0.1"])
    assert pki().cert_config("service-accounts")["spec"]["ttl"] == "87600h"
    assert "ttl" not in pki().cert_config("admin")["spec"]
    with pytest.raises(KeyError):
        pki(certificates=guestkit.certificate_set(front_proxy=False)).cert_config("front-proxy-client")


DATA = {"ca.crt": "Q0E=", "tls.crt": "Q1JU", "tls.key": "S0VZ"}


def test_the_admin_kubeconfig_keeps_the_bytes_each_operator_wrote():
    sni = guestkit.admin_kubeconfig(
        "blue", guestkit.AdminAccess("https://api.blue.example:8443", "api.blue.example"), DATA
    )
    assert sni.splitlines()[:7] == [
        "apiVersion: v1",
        "clusters:",
        "- cluster:",
        "    certificate-authority-data: Q0E=",
        "    server: https://api.blue.example:8443",
        "    tls-server-name: api.blue.example",
        "  name: blue",
    ]
    plain = guestkit.admin_kubeconfig("blue", guestkit.AdminAccess("https://api.blue.example", sort_keys=False), DATA)
    assert plain.splitlines()[:6] == [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: blue",
        "  cluster:",
        "    server: https://api.blue.example",
    ]
    for text in (sni, plain):
        config = yaml.safe_load(text)
        assert config["current-context"] == "blue"
        assert config["users"] == [
            {"name": "blue-admin", "user": {"client-certificate-data": "Q1JU", "client-key-data": "S0VZ"}}
        ]
        assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == b"CA"


class Pool(pydantic.BaseModel):
    labels: guestkit.NodeLabels = pydantic.Field(default_factory=dict, max_length=guestkit.MAX_LABELS)


def test_a_pool_may_not_label_its_nodes_with_the_platforms_prefixes():
    assert Pool(labels={"tier": "gpu", "example.com/team": "blue"}).labels["tier"] == "gpu"
    for reserved in ("kubernetes.io/role", "node.kubernetes.io/x", "k8s.io/x", "kubeception.io/pool"):
        with pytest.raises(pydantic.ValidationError, match="are reserved"):
            Pool(labels={reserved: "x"})
    with pytest.raises(pydantic.ValidationError):
        Pool(labels={f"k{i}": "v" for i in range(guestkit.MAX_LABELS + 1)})
