"""Operations: leader election between real replica processes, graceful shutdown, /metrics, probes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import ControlPlane, wait_for
from kubeception_testenv._ports import free_port
from operatorkit._runtime.leader import LeaderElector
from operatorkit.example import GREETING
from operatorkit.example.controller import greeting_controller
from operatorkit.kinds import CONFIG_MAP, LEASE
from tests.operatorkit.conftest import greeting

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from operatorkit import KubeClient

pytestmark = pytest.mark.usefixtures("greeting_crd")
LEASE_DURATION = 4.0
RETRY_PERIOD = 0.5


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def reconciled_keys(self, after: float = 0.0) -> list[tuple[float, str]]:
        """(unix time, object) of every reconcile this replica finished after ``after``."""
        found = []
        for line in self.log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg", "").startswith("reconcile finished"):
                stamp = time.mktime(time.strptime(entry["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                if stamp >= after:
                    found.append((stamp, entry["object"]))
        return found

    def metric(self, name: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return "\n".join(line for line in text.splitlines() if line.startswith(name))


@pytest.fixture
def replicas(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    for index in range(2):
        port = free_port()
        log = tmp_path / f"replica-{index}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "operatorkit.example",
                f"--kubeconfig={control_plane.kubeconfig}",
                f"--namespace={namespace}",
                f"--leader-election.namespace={namespace}",
                "--log-level=debug",
                f"--leader-election.lease-duration={LEASE_DURATION}",
                "--leader-election.renew-deadline=3",
                f"--leader-election.retry-period={RETRY_PERIOD}",
                f"--http.metrics-address=127.0.0.1:{port}",
                f"--http.probe-address=127.0.0.1:{free_port()}",
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        started.append(Replica(proc, log, port))
    yield started
    for replica in started:
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGCONT)
            replica.proc.kill()
            replica.proc.wait()


def holder(kube: KubeClient, namespace: str) -> str | None:
    lease = kube.get_or_none(LEASE, "greeting-operator-leader", namespace)
    identity = (lease or {}).get("spec", {}).get("holderIdentity")
    return str(identity) if identity else None


def leader_of(replicas: list[Replica], identity: str) -> Replica:
    return next(r for r in replicas if f"_{r.proc.pid}_" in identity)


def test_exactly_one_leader_and_failover_within_lease(kube, namespace, replicas):
    identity = wait_for(lambda: holder(kube, namespace), timeout=30, message="a leader")
    assert isinstance(identity, str)
    leader = leader_of(replicas, identity)
    standby = next(r for r in replicas if r is not leader)
    wait_for(lambda: "1.0" in leader.metric("leader_election_master_status"), timeout=10, message="leader gauge")
    wait_for(
        lambda: standby.metric("leader_election_master_status").endswith(" 0.0"), timeout=10, message="standby gauge"
    )

    kube.create(GREETING, greeting("one", namespace))
    wait_for(lambda: kube.get_or_none(CONFIG_MAP, "one-greeting", namespace), timeout=20, message="reconciled")
    assert standby.reconciled_keys() == [], "the standby never reconciles"

    killed_at = time.monotonic()
    leader.proc.kill()
    wait_for(
        lambda: holder(kube, namespace) not in (None, identity),
        timeout=LEASE_DURATION + 10,
        message="the standby to take the lease",
    )
    takeover = time.monotonic() - killed_at
    assert takeover <= LEASE_DURATION + 2 * RETRY_PERIOD + 1.0, f"takeover took {takeover:.1f} s"
    kube.create(GREETING, greeting("two", namespace))
    wait_for(lambda: kube.get_or_none(CONFIG_MAP, "two-greeting", namespace), timeout=20, message="new leader works")


def test_frozen_leader_never_reconciles_after_losing_the_lease(kube, namespace, replicas):
    identity = wait_for(lambda: holder(kube, namespace), timeout=30, message="a leader")
    assert isinstance(identity, str)
    leader = leader_of(replicas, identity)
    leader.proc.send_signal(signal.SIGSTOP)  # a long GC pause or a partition: it cannot renew
    wait_for(
        lambda: holder(kube, namespace) not in (None, identity),
        timeout=LEASE_DURATION + 10,
        message="the standby to take the lease",
    )
    for index in range(5):
        kube.create(GREETING, greeting(f"g{index}", namespace))
    resumed_at = time.time()
    leader.proc.send_signal(signal.SIGCONT)
    assert leader.proc.wait(30) == 1, "a replica that lost its lease exits so it restarts clean"
    assert leader.reconciled_keys(after=resumed_at - 1) == [], "no reconcile after waking up without the lease"
    wait_for(
        lambda: all(kube.get_or_none(CONFIG_MAP, f"g{i}-greeting", namespace) for i in range(5)),
        timeout=20,
        message="the new leader reconciled everything",
    )


def test_sigterm_is_graceful_and_hands_the_lease_over(kube, namespace, replicas):
    identity = wait_for(lambda: holder(kube, namespace), timeout=30, message="a leader")
    assert isinstance(identity, str)
    leader = leader_of(replicas, identity)
    started = time.monotonic()
    leader.proc.send_signal(signal.SIGTERM)
    assert leader.proc.wait(30) == 0
    assert time.monotonic() - started < 30
    # Released, not expired: the standby takes over well before a lease duration.
    wait_for(lambda: holder(kube, namespace) not in (None, identity), timeout=LEASE_DURATION, message="handover")


REFERENCE_METRICS = (
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_terminal_reconcile_errors_total",
    "controller_runtime_reconcile_panics_total",
    "controller_runtime_reconcile_time_seconds_bucket",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_retries_total",
    "workqueue_queue_duration_seconds_bucket",
    "workqueue_work_duration_seconds_bucket",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
)


def test_metrics_expose_controller_runtime_names_zeroed_at_start(kube, namespace, run_operator):
    name = f"metrics{uuid.uuid4().hex[:6]}"
    operator = run_operator(
        [greeting_controller(name, workers=3)],
        leader_election={
            "enabled": True,
            "namespace": namespace,
            "id": name,
            "retry_period": 0.5,
            "renew_deadline": 3,
            "lease_duration": 4,
        },
    )
    port = operator.http_ports[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    lines = text.splitlines()
    for metric in REFERENCE_METRICS:
        label = f'controller="{name}"'
        assert any(line.startswith(metric) and label in line for line in lines), metric
    for result in ("success", "error", "requeue", "requeue_after"):
        assert f'controller_runtime_reconcile_total{{controller="{name}",result="{result}"}} 0.0' in lines
    assert f'workqueue_adds_total{{controller="{name}",name="{name}"}} 0.0' in lines
    assert f'controller_runtime_max_concurrent_reconciles{{controller="{name}"}} 3.0' in lines
    assert any(line.startswith(f'leader_election_master_status{{name="{name}"}}') for line in lines)
    assert any(line.startswith("rest_client_requests_total{") for line in lines)
    assert any(line.startswith("process_resident_memory_bytes") for line in lines)
    assert not [line for line in lines if "_created" in line], "no _created series"
    assert os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES") is None  # disabled in code, not by env


def test_readyz_waits_for_caches(kube, namespace, run_operator):
    operator = run_operator([greeting_controller(f"ready{uuid.uuid4().hex[:4]}")])
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.http_ports[-1]}/readyz", timeout=5) as response:
        assert response.status == 200
    assert operator.readyz() is None
    assert all(informer.synced.is_set() for informer in operator.informers)


class FrozenMidRenewal(LeaderElector):
    """A leader whose process freezes after its renewal reached the API server and before the answer came back
    (the window a SIGSTOP or a long pause can hit): the answer arrives after a standby could have taken over."""

    freeze = threading.Event()

    def _try_acquire_or_renew(self) -> bool:
        renewed = super()._try_acquire_or_renew()
        if self.freeze.is_set():
            self.freeze.clear()
            time.sleep(self.lease_duration + 0.5)  # the freeze itself, not synchronisation
        return renewed


def test_a_renewal_answered_after_a_freeze_does_not_extend_leadership(kube, namespace):
    """Found by CI: such a leader took the late answer as a fresh renewal and reconciled for another renew
    deadline while a standby held the lease. A renewal now counts from when it was sent; one answered later than
    the renew deadline does not count at all (client-go gives up leadership the same way)."""
    elector = FrozenMidRenewal(
        kube, name="frozen", namespace=namespace, lease_duration=2.0, renew_deadline=1.5, retry_period=0.2
    )
    lost = threading.Event()
    elector.on_stopped_leading = lost.set
    elector.start()
    try:
        wait_for(elector.is_leader, timeout=10, message="leadership")
        elector.freeze.set()
        # The late answer was a success (nobody else took the lease meanwhile), and still it does not count.
        wait_for(lost.is_set, timeout=elector.lease_duration + 5, message="leadership given up after the freeze")
    finally:
        elector.stop(release=False)
