"""Benchmark: aws-operator creating 50 AWS guest clusters on moto's server (the AWS API on loopback), each in an
AWS account of its own, with cert-operator (real OpenBao) issuing their 10 certificates each.

1. operator: 50 AWSConfigs created at once. Time until every one is Ready (key, bucket, 10 certificates
   encrypted and uploaded with 3 boot configs, the main stack created with 2 zones, a master and a 2-worker pool,
   every group in service), p50/p99 per cluster; AWS API calls per cluster; then the calls 30 s of idle cost;
   aws-operator's CPU and peak memory; deletion of all, until every account is empty.
2. the peer, in the same run: the same AWS work done straight with boto3 (no Kubernetes, no certificates to wait
   for: the objects are random bytes) with as many threads as the operator has workers — KMS key and alias,
   bucket, 13 uploads, CreateStack of the same template — the floor moto sets for any operator.

Usage: ``make bench`` or ``python bench/aws.py --clusters 50``.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import psutil
from _bytecode import compile_bytecode
from _measure import percentile, wait_all_ready

from aws_operator import key
from aws_operator.spec import AWS_CONFIG
from aws_operator.templates.guest import GuestInputs, Pool, render
from kubeception_testenv import ControlPlane, MotoServer, OpenBaoServer, wait_for
from kubeception_testenv._ports import free_port
from kubeception_testenv.images import ROOT
from operatorkit import KubeClient
from operatorkit._runtime.informer import Informer
from operatorkit.kinds import NAMESPACE, SECRET

NS = "bench-aws"
REGION = "eu-west-1"
AMI = "ami-12c6146b"
ACCOUNT_BASE = 700000000000


def aws_config(index: int) -> dict[str, Any]:
    name = f"aws{index:03d}"
    return {
        "apiVersion": AWS_CONFIG.api_version,
        "kind": AWS_CONFIG.kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "clusterID": name,
            "region": REGION,
            "availabilityZones": [f"{REGION}a", f"{REGION}b"],
            "kubernetesVersion": "1.36.3",
            "workerPools": [{"name": "default", "desired": 2, "maxSize": 4}],
            "credentials": {"secretName": f"aws-{name}"},
        },
    }


def role(index: int) -> str:
    return f"arn:aws:iam::{ACCOUNT_BASE + index}:role/kubeception"


def api_calls(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kubeception_aws_api_calls_total{")
    )


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *command], env=env)


def run_operator(
    plane: ControlPlane, bao: OpenBaoServer, moto: MotoServer, clusters: int, workers: int
) -> dict[str, Any]:
    kube = KubeClient.load(str(plane.kubeconfig))
    kube.create(NAMESPACE, {"metadata": {"name": NS}})
    for i in range(clusters):
        secret = {"roleARN": base64.b64encode(role(i).encode()).decode()}
        kube.create(SECRET, {"metadata": {"name": f"aws-aws{i:03d}", "namespace": NS}, "data": secret})
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.kubeconfig),
        "VAULT_TOKEN": bao.root_token,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    common = ["--no-leader-election.enabled", "--http.probe-address=127.0.0.1:0", "--log-level=warning"]
    certs = start(
        ["cert_operator", f"--vault.address={bao.url}", "--workers=4", "--http.metrics-address=127.0.0.1:0", *common],
        env,
    )
    port = free_port()
    operator = start(
        [
            "aws_operator",
            f"--aws.endpoint-url={moto.url}",
            f"--images.amis={json.dumps({'1.36.3': {REGION: AMI}})}",
            "--stacks.poll-seconds=1",
            f"--workers={workers}",
            f"--http.metrics-address=127.0.0.1:{port}",
            *common,
        ],
        env,
    )
    proc = psutil.Process(operator.pid)
    informer = Informer(kube, AWS_CONFIG, namespace=NS)
    informer.start()
    informer.wait_synced(60)
    try:
        wait_for(lambda: api_calls(port) >= 0, timeout=60, message="aws-operator serving metrics")
        names = [f"aws{i:03d}" for i in range(clusters)]
        cpu_before = proc.cpu_times()
        begin = time.monotonic()
        starts: dict[str, float] = {}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for i, name in enumerate(names):
                starts[name] = time.monotonic()
                pool.submit(kube.create, AWS_CONFIG, aws_config(i))
        latency = wait_all_ready(informer, set(names), starts, 1800)
        total = time.monotonic() - begin
        cpu_create = sum(proc.cpu_times()[:2]) - sum(cpu_before[:2])
        rss = proc.memory_info().rss / 2**20
        calls = api_calls(port)
        time.sleep(30)  # measured idle period (not synchronisation): what an idle fleet costs in AWS calls
        idle_calls = api_calls(port) - calls
        begin_delete = time.monotonic()
        for name in names:
            kube.delete(AWS_CONFIG, name, NS)
        wait_for(lambda: not kube.list(AWS_CONFIG, NS)["items"], timeout=1800, message="all deleted")
        delete_seconds = time.monotonic() - begin_delete
        left = [i for i in range(clusters) if leftovers(moto.url, ACCOUNT_BASE + i)]
        return {
            "total": total,
            "p50": percentile(list(latency.values()), 50),
            "p99": percentile(list(latency.values()), 99),
            "cpu": cpu_create,
            "rss": max(rss, proc.memory_info().rss / 2**20),
            "calls": calls / clusters,
            "idle_calls": idle_calls,
            "delete": delete_seconds,
            "left": left,
        }
    finally:
        informer.stop()
        for process in (operator, certs):
            process.terminate()
            process.wait(30)


def client(url: str, account: int, service: str) -> Any:
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION)
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/bench", RoleSessionName="bench")["Credentials"]
    factory: Any = boto3.client
    return factory(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def leftovers(url: str, account: int) -> bool:
    stacks = client(url, account, "cloudformation").list_stacks()["StackSummaries"]
    buckets = client(url, account, "s3").list_buckets()["Buckets"]
    return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks) or bool(buckets)


def run_direct(url: str, clusters: int, workers: int) -> dict[str, Any]:
    """The peer: the same AWS work per cluster, straight through boto3."""
    latencies: list[float] = []

    def one(index: int) -> None:
        began = time.monotonic()
        account = ACCOUNT_BASE + 500 + index
        kms, s3, cfn = (client(url, account, s) for s in ("kms", "s3", "cloudformation"))
        name = f"peer{index:03d}"
        made = kms.create_key(Description=name)["KeyMetadata"]
        kms.create_alias(AliasName=key.key_alias(name), TargetKeyId=made["KeyId"])
        bucket = key.bucket(name, str(account), REGION)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for n in range(len(key.CERTIFICATES) + 3):
            s3.put_object(Bucket=bucket, Key=f"objects/{n}", Body=os.urandom(3000))
        inputs = GuestInputs(
            cluster_id=name,
            kubernetes_version="1.36.3",
            vpc_cidr=ipaddress.IPv4Network(f"10.{128 + index // 256}.{index % 256}.0/24"),
            zones=(f"{REGION}a", f"{REGION}b"),
            ami=AMI,
            master_type="m5.large",
            masters=1,
            pools=(Pool("default", "m5.large", 1, 4, 2),),
            bucket=bucket,
            key_arn=made["Arn"],
            zone=f"{name}.aws.kubeception.test",
            hosted_zone_id=None,
            claim=f"bench {name}",
        )
        cfn.create_stack(StackName=key.stack(name), TemplateBody=render(inputs), Capabilities=["CAPABILITY_IAM"])
        latencies.append(time.monotonic() - began)

    begin = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(clusters)))
    total = time.monotonic() - begin
    return {"total": total, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    compile_bytecode()
    with (
        tempfile.TemporaryDirectory(prefix="kubeception-bench-aws-") as tmp,
        ControlPlane(Path(tmp) / "plane", nodes=1) as plane,
        OpenBaoServer(Path(tmp) / "bao") as bao,
        MotoServer(Path(tmp) / "moto") as moto,
    ):
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        for crd in ("caconfigs", "certconfigs", "guestcredentialrequests", "awsconfigs", "domainclaims"):
            plane.kubectl("apply", "-f", str(ROOT / "crds" / f"{crd}.kubeception.io.yaml"))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{crd}.kubeception.io")
        print(f"# aws-operator: {args.clusters} AWSConfigs ...", file=sys.stderr, flush=True)
        operator = run_operator(plane, bao, moto, args.clusters, args.workers)
        print(f"# boto3 directly: {args.clusters} clusters' AWS work ...", file=sys.stderr, flush=True)
        direct = run_direct(moto.url, args.clusters, args.workers)
    print(f"{args.clusters} AWS guest clusters on moto, {args.workers} workers / threads:\n")
    print("| path | all done (s) | p50 per cluster (s) | p99 per cluster (s) |")
    print("| --- | --- | --- | --- |")
    rows = (("aws-operator (AWSConfig → Ready)", operator), ("boto3 directly (key, bucket, uploads, stack)", direct))
    for name, r in rows:
        print(f"| {name} | {r['total']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} |")
    print(
        f"\naws-operator: {operator['calls']:.0f} AWS calls per cluster to Ready; "
        f"{operator['idle_calls']:.0f} calls in 30 s idle (all {args.clusters} clusters); CPU {operator['cpu']:.1f} s "
        f"({operator['cpu'] / args.clusters * 1000:.0f} ms per cluster); RSS {operator['rss']:.0f} MiB; "
        f"all deleted in {operator['delete']:.1f} s, accounts left with anything: {len(operator['left'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
