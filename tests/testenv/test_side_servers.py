"""The side servers are real: OpenBao issues certificates, moto runs CloudFormation, etcd stores keys,
HAProxy checks and serves configurations."""

from __future__ import annotations

import contextlib
import socket
import textwrap
import threading
from typing import TYPE_CHECKING

import boto3
import etcd3gw
import hvac
import pytest
import requests
from cryptography import x509

from kubeception_testenv import EtcdServer, HAProxyServer, MotoServer, OpenBaoServer, haproxy_check
from kubeception_testenv._ports import free_port

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from pathlib import Path


def test_openbao_pki_issues_a_certificate(openbao: OpenBaoServer):
    vault = openbao.hvac_client()
    assert vault.is_authenticated()
    vault.sys.enable_secrets_engine("pki", path="pki-testenv", config={"max_lease_ttl": "24h"})
    root = vault.secrets.pki.generate_root(
        "internal", "testenv root", extra_params={"ttl": "24h"}, mount_point="pki-testenv"
    )
    ca = x509.load_pem_x509_certificate(root["data"]["certificate"].encode())
    vault.secrets.pki.create_or_update_role(
        "api",
        {"allowed_domains": ["testenv.local"], "allow_subdomains": True, "max_ttl": "1h"},
        mount_point="pki-testenv",
    )
    issued = vault.secrets.pki.generate_certificate(
        "api", "apiserver.testenv.local", extra_params={"ttl": "10m"}, mount_point="pki-testenv"
    )["data"]
    leaf = x509.load_pem_x509_certificate(issued["certificate"].encode())
    assert leaf.issuer == ca.subject
    assert leaf.subject.rfc4514_string() == "CN=apiserver.testenv.local"
    assert issued["private_key"].startswith("-----BEGIN")

    with pytest.raises(hvac.exceptions.InvalidRequest, match="not allowed"):
        vault.secrets.pki.generate_certificate("api", "evil.example.com", mount_point="pki-testenv")


CFN_TEMPLATE = textwrap.dedent("""
    AWSTemplateFormatVersion: "2010-09-09"
    Resources:
      Vpc:
        Type: AWS::EC2::VPC
        Properties: {CidrBlock: 10.10.0.0/16}
      Subnet:
        Type: AWS::EC2::Subnet
        Properties: {VpcId: !Ref Vpc, CidrBlock: 10.10.1.0/24}
    Outputs:
      VpcId: {Value: !Ref Vpc}
      SubnetId: {Value: !Ref Subnet}
""")


def test_persistent_openbao_keeps_its_data_across_a_restart(testenv_workdir: Path):
    """What the demo relies on: a CA in OpenBao survives `make down` / `make demo`, like the cluster does — and so
    does the CA of OpenBao's own serving certificate (HTTPS, as the demo runs it), which cert-operator trusts."""
    with OpenBaoServer(testenv_workdir, persistent=True, tls=True) as server:
        assert server.url.startswith("https://")
        served_by = server.ca_file.read_bytes() if server.ca_file else b""
        client = server.hvac_client()
        client.sys.enable_secrets_engine("pki", path="pki-keep")
        client.secrets.pki.generate_root("internal", "keep CA", mount_point="pki-keep")
        ca = client.read("pki-keep/issuer/default")["data"]["certificate"]
    assert (testenv_workdir / "init.json").stat().st_mode & 0o077 == 0, "the unseal key is the owner's alone"
    with OpenBaoServer(testenv_workdir, persistent=True, tls=True) as server:
        assert server.ca_file is not None
        assert server.ca_file.read_bytes() == served_by
        assert server.hvac_client().read("pki-keep/issuer/default")["data"]["certificate"] == ca


def test_moto_cloudformation_stack_with_vpc_and_subnet(moto_server: MotoServer):
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-central-1")
    cfn = session.client("cloudformation", endpoint_url=moto_server.url)
    cfn.create_stack(StackName="testenv", TemplateBody=CFN_TEMPLATE)
    cfn.get_waiter("stack_create_complete").wait(StackName="testenv", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    stack = cfn.describe_stacks(StackName="testenv")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    ec2 = session.client("ec2", endpoint_url=moto_server.url)
    subnet = ec2.describe_subnets(SubnetIds=[outputs["SubnetId"]])["Subnets"][0]
    assert subnet["VpcId"] == outputs["VpcId"]
    assert subnet["CidrBlock"] == "10.10.1.0/24"


def test_etcd_put_get_delete(etcd_server: EtcdServer):
    etcd = etcd_server.client()
    assert etcd.put("/coreos.com/network/br-test/config", '{"Network": "10.1.0.0/16"}')
    assert etcd.get("/coreos.com/network/br-test/config") == [b'{"Network": "10.1.0.0/16"}']
    assert etcd.delete("/coreos.com/network/br-test/config")
    assert etcd.get("/coreos.com/network/br-test/config") == []


def _tls_session(ca_file: Path, cert: tuple[str, str] | None = None) -> requests.Session:
    # requests lets REQUESTS_CA_BUNDLE from the environment override session.verify; ignore the environment.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    if cert is not None:
        session.cert = cert
    return session


def test_etcd_with_tls_client_auth(testenv_workdir: Path):
    with EtcdServer(testenv_workdir, tls=True, name="tls-etcd") as server:
        assert server.client_cert is not None
        assert server.ca_file is not None
        cert = (str(server.client_cert.cert), str(server.client_cert.key))
        authed = etcd3gw.client(
            host="127.0.0.1",
            port=server.client_port,
            protocol="https",
            session=_tls_session(server.ca_file, cert),
        )
        assert authed.put("k", "v")
        assert authed.get("k") == [b"v"]
        anonymous = etcd3gw.client(
            host="127.0.0.1", port=server.client_port, protocol="https", session=_tls_session(server.ca_file)
        )
        with pytest.raises(etcd3gw.exceptions.ConnectionFailedError):
            anonymous.get("k")


def _haproxy_config(port: int, backend_port: int) -> str:
    return textwrap.dedent(f"""
        global
            log stderr format raw local0
        defaults
            mode tcp
            timeout connect 2s
            timeout client 10s
            timeout server 10s
        frontend api
            bind 127.0.0.1:{port}
            default_backend guest
        backend guest
            server s1 127.0.0.1:{backend_port}
    """)


def test_haproxy_check_accepts_valid_and_rejects_broken(testenv_workdir: Path):
    assert haproxy_check(_haproxy_config(free_port(), free_port()), testenv_workdir).ok
    broken = haproxy_check(
        _haproxy_config(free_port(), free_port()).replace("mode tcp", "mode nonsense"), testenv_workdir
    )
    assert not broken.ok
    assert "nonsense" in broken.output


def test_haproxy_forwards_tcp(testenv_workdir: Path):
    with socket.create_server(("127.0.0.1", 0)) as backend:

        def echo_one(conn: socket.socket) -> None:
            with conn, contextlib.suppress(OSError):  # the health probe's connection is reset: fine
                conn.sendall(conn.recv(64))

        def accept_all() -> None:  # the health probe connects too, so answer every connection
            with contextlib.suppress(OSError):
                while True:
                    threading.Thread(target=echo_one, args=(backend.accept()[0],), daemon=True).start()

        threading.Thread(target=accept_all, daemon=True).start()
        port = free_port()
        config = _haproxy_config(port, backend.getsockname()[1])
        with (
            HAProxyServer(testenv_workdir, config, [port]),
            socket.create_connection(("127.0.0.1", port), timeout=5) as conn,
        ):
            conn.sendall(b"hello")
            assert conn.recv(64) == b"hello"


def test_a_recorded_port_is_kept_while_free(tmp_path):
    """``make demo`` on kept state: the API server comes back on its port (the cluster stored it in endpoints)."""
    import socket

    from kubeception_testenv._ports import sticky_port

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        wanted = probe.getsockname()[1]
    record = tmp_path / "port"
    record.write_text(str(wanted))
    assert sticky_port(record) == wanted
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        record.write_text(str(taken))
        other = sticky_port(record)
        assert other != taken
        assert record.read_text() == str(other)
