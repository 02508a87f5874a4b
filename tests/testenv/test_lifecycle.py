"""The harness never leaves a process behind: not after `down`, not when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import find_binary, wait_for

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); count it as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def _children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return {int(p) for p in out.stdout.split()}


def test_server_dies_with_a_killed_parent(tmp_path: Path):
    script = textwrap.dedent(f"""
        import pathlib, sys, time
        from kubeception_testenv import EtcdServer
        server = EtcdServer(pathlib.Path({str(tmp_path)!r})).start()
        print(server.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    etcd_pid = int(parent.stdout.readline())
    assert _alive(etcd_pid)
    parent.kill()
    parent.wait()
    wait_for(lambda: not _alive(etcd_pid), timeout=10, message="etcd to die with its parent")


@pytest.mark.slow
def test_up_then_down_leaves_no_process(tmp_path: Path):
    state = tmp_path / "state"
    up = subprocess.run(
        [sys.executable, "-m", "kubeception_testenv", "up", f"--state={state}", "--nodes=2"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert "export KUBECONFIG=" in up.stdout
    supervisor = int((state / "supervisor.pid").read_text())
    servers = _children_of(supervisor)
    assert len(servers) == 9  # etcd, apiserver, kcm, scheduler, kwok, openbao, moto, flannel etcd, prometheus

    nodes = subprocess.run(
        [
            str(find_binary("kubectl")),
            f"--kubeconfig={state / 'control-plane' / 'kubeconfig'}",
            "get",
            "nodes",
            "--no-headers",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert [line.split()[1] for line in nodes] == ["Ready", "Ready"]

    down = subprocess.run(
        [sys.executable, "-m", "kubeception_testenv", "down", f"--state={state}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert down.returncode == 0, down.stderr
    assert not _alive(supervisor)
    assert not [pid for pid in servers if _alive(pid)]
    assert not (state / "env").exists()


def test_sigterm_to_supervisor_stops_everything(tmp_path: Path):
    """`down` is SIGTERM; the supervisor must stop its servers itself, not rely on the group kill."""
    state = tmp_path / "state"
    serve = subprocess.Popen(
        [sys.executable, "-m", "kubeception_testenv", "serve", f"--state={state}", "--nodes=1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (state / "env").exists(), timeout=180, message="the environment")
        servers = _children_of(serve.pid)
        assert servers
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
        assert not [pid for pid in servers if _alive(pid)]
    finally:
        serve.kill()
