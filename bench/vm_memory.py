"""Benchmark: QEMU's resident memory against its guest's RAM under TCG, with and without a cap on TCG's translation
cache (the launcher's ``--tcg-tb-size-mib``), and what the cap costs in CPU.

For each cache size: the node image booted by the launcher (tests/vm's harness: a guest kube-apiserver on a bridge,
no mother), 1 vCPU and 1 GiB like a default worker, Node Ready, then for ``--minutes`` two pods on it:

* ``hungry`` fills the guest's memory: it writes 700 MiB to its writable layer on the state disk (the guest's page
  cache), then reads 256 MiB of zeros into one buffer (anonymous memory, which evicts the cache), over and over;
* ``busy`` runs rounds of 20 short processes (``ls -R``, ``md5sum``: code the guest has to translate again when
  the page cache moved it) and prints each round's time, with an exec readiness probe every 2 s (runc, the shim).

Every 2 s the QEMU process's RSS is read, and split by mapping (``/proc/<pid>/smaps``): the guest's RAM (the one
mapping of the guest's size), TCG's code buffer (the executable anonymous mapping) and the rest (QEMU itself,
device buffers, libraries); the launcher's own RSS too (it shares the pod's limit). At the end QEMU's ``info jit``
says how much of the code buffer was used and how often it was flushed.

Usage: ``python bench/vm_memory.py --minutes 4 --tb-sizes 0,256,128,64`` (root: a bridge and a tap; 0 = QEMU's
default, 1 GiB). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubeception_testenv import find_binary, wait_for
from kubeception_testenv.guest import NodeGuest, WorkerVM
from kubeception_testenv.images import RECIPES, Recipe, build, extract, version
from kvm_operator import bootconfig
from kvm_operator.launcher.qmp import QMP
from operatorkit import KubeClient
from operatorkit.kinds import NODE, POD, SERVICE_ACCOUNT

HOST = "api.vm-memory.kubeception.test"
BUSYBOX = f"ghcr.io/kubeception/busybox:{version()}"
HUNGRY = (
    "n=0; while :; do dd if=/dev/zero of=/fill bs=1M count=700 2>/dev/null; rm -f /fill; "
    "dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null; n=$((n+1)); echo fill $n; done"
)
BUSY = (
    "n=0; while :; do read s _ < /proc/uptime; i=0; while [ $i -lt 10 ]; do "
    "ls -R /bin /etc >/dev/null; md5sum /bin/busybox >/dev/null; i=$((i+1)); done; "
    "read e _ < /proc/uptime; n=$((n+1)); echo round $n $s $e; done"
)
MIB = 1 << 20


@dataclass
class Sample:
    at: float
    rss: int  # bytes, QEMU
    guest_ram: int
    code: int  # TCG's code buffer
    launcher: int
    cpu: float  # QEMU's user + system seconds


@dataclass
class Run:
    tb_size: int
    memory_mib: int
    ready_seconds: float = 0.0
    load_cpu: float = 0.0  # QEMU's CPU seconds while the pods ran
    samples: list[Sample] = field(default_factory=list)
    hwm: int = 0
    rounds: list[float] = field(default_factory=list)
    fills: int = 0  # the hungry pod's passes
    jit: str = ""

    @property
    def peak(self) -> Sample:
        return max(self.samples, key=lambda s: s.rss)


def smaps(pid: int, guest_bytes: int) -> tuple[int, int, int]:
    """QEMU's RSS, and the parts of it that are the guest's RAM and TCG's code buffer (bytes). The code buffer is
    QEMU's only anonymous executable memory (split by guard pages, one region per vCPU thread); the guest's RAM is
    the run of adjacent anonymous mappings that holds it."""
    mappings: list[tuple[int, int, bool, bool, int]] = []  # start, end, anonymous, executable, rss
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            start, end = (int(x, 16) for x in head[0].split("-"))
            mappings.append((start, end, len(head) < 6, "x" in head[1], 0))
        elif head[0] == "Rss:":
            start, end, anonymous, executable, _ = mappings[-1]
            mappings[-1] = (start, end, anonymous, executable, int(head[1]) * 1024)
    total = sum(m[4] for m in mappings)
    code = sum(m[4] for m in mappings if m[2] and m[3])
    # The guest's RAM: the run of adjacent anonymous data mappings at least the guest's size (the kernel may have
    # merged a neighbour into it); resident, at most the guest's size.
    guest = run_end = run_size = run_rss = 0
    for start, end, anonymous, executable, rss in [*mappings, (0, 0, False, False, 0)]:
        if anonymous and not executable and start == run_end:
            run_end, run_size, run_rss = end, run_size + end - start, run_rss + rss
            continue
        if run_size >= guest_bytes:
            guest = max(guest, min(run_rss, guest_bytes))
        run_end, run_size, run_rss = (end, end - start, rss) if anonymous and not executable else (0, 0, 0)
    return total, guest, code


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (USER_HZ = 100)


def pod(name: str, node: str, script: str, probe: bool = False) -> dict[str, object]:
    container: dict[str, object] = {
        "name": name,
        "image": BUSYBOX,
        "imagePullPolicy": "Never",
        "command": ["/bin/busybox", "sh", "-c", script],
    }
    if probe:
        container["readinessProbe"] = {"exec": {"command": ["/bin/busybox", "true"]}, "periodSeconds": 2}
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    }


def measure(guest: NodeGuest, boot_files: tuple[Path, Path], workdir: Path, run: Run, minutes: float) -> None:
    node = f"tb-{run.tb_size}"
    certificate = guest.node_certificate(node)
    config = workdir / f"{node}.ign"
    config.write_bytes(
        bootconfig.dumps(
            bootconfig.render(
                bootconfig.WorkerBoot(
                    node=node, api_host=HOST, api_port=guest.server.port, api_address=guest.gateway,
                    ca_pem=guest.pki.ca.cert.read_text(), cert_pem=certificate.cert.read_text(),
                    key_pem=certificate.key.read_text(), sandbox_image=f"ghcr.io/kubeception/pause:{version()}",
                )
            )
        )
    )  # fmt: skip
    kube = KubeClient.load(str(guest.kubeconfig))
    vm = WorkerVM(
        workdir / node, guest, node, boot_files, config, cpus=1, memory_mib=run.memory_mib,
        options=["--accelerator=tcg", f"--tcg-tb-size-mib={run.tb_size}"],
    )  # fmt: skip
    guest_bytes = run.memory_mib * MIB
    began = time.monotonic()
    vm.launch()
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(2.0):
            qemu, launcher = vm.qemu_pid(), vm.pid
            if qemu is None or launcher is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                total, ram, code = smaps(qemu, guest_bytes)
                launcher_rss = status_kib(launcher, "VmRSS") * 1024
                run.samples.append(Sample(time.monotonic() - began, total, ram, code, launcher_rss, cpu_seconds(qemu)))
                run.hwm = max(run.hwm, status_kib(qemu, "VmHWM") * 1024)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    try:
        wait_for(lambda: kube.get_or_none(NODE, node), timeout=300, interval=0.5)
        kube.patch(NODE, node, {"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}})
        wait_for(lambda: guest.node_ready(node), timeout=300, interval=0.5)
        run.ready_seconds = time.monotonic() - began
        qemu = vm.qemu_pid()
        assert qemu is not None
        cpu_before = cpu_seconds(qemu)
        kube.create(POD, pod(f"hungry-{node}", node, HUNGRY))
        kube.create(POD, pod(f"busy-{node}", node, BUSY, probe=True))
        print(f"# {node}: Node Ready after {run.ready_seconds:.0f} s, load for {minutes:g} min", file=sys.stderr)
        time.sleep(minutes * 60)  # the measurement's duration, not a synchronisation
        run.load_cpu = cpu_seconds(qemu) - cpu_before
        logs = {
            name: subprocess.run(
                [str(find_binary("kubectl")), f"--kubeconfig={guest.kubeconfig}", "logs", f"{name}-{node}"],
                capture_output=True, text=True, check=True, timeout=60,
            ).stdout
            for name in ("busy", "hungry")
        }  # fmt: skip
        run.fills = logs["hungry"].count("fill ")
        for line in logs["busy"].splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "round":
                run.rounds.append(float(parts[3]) - float(parts[2]))
        qmp = QMP(vm.qmp_socket)
        run.jit = str(qmp.command("human-monitor-command", **{"command-line": "info jit"}))
        qmp.close()
    finally:
        stop.set()
        thread.join()
        vm.stop(timeout=60)


def jit_summary(text: str) -> str:
    """``gen code size 123/456`` and ``TB flush count N`` from ``info jit``."""
    used = re.search(r"gen code size\s+(\d+)/(\d+)", text)
    flushes = re.search(r"TB flush count\s+(\d+)", text)
    parts = []
    if used:
        parts.append(f"{int(used.group(1)) / MIB:.0f}/{int(used.group(2)) / MIB:.0f} MiB")
    if flushes:
        parts.append(f"{flushes.group(1)} flushes")
    return ", ".join(parts) or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--memory-mib", type=int, default=1024)
    parser.add_argument("--tb-sizes", default="0,256,128,64", help="MiB, 0 = QEMU's default (1 GiB)")
    args = parser.parse_args()
    runs = [Run(int(size), args.memory_mib) for size in args.tb_sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="kubeception-bench-vm-memory-") as tmp:
        workdir = Path(tmp)
        archive = build(Recipe.load(RECIPES / "node.yaml"))
        kernel, initrd = extract(archive, ["boot/vmlinuz", "boot/initrd.img"], workdir / "boot")
        with NodeGuest(workdir / "guest", HOST) as guest:
            kube = KubeClient.load(str(guest.kubeconfig))
            kube.create(SERVICE_ACCOUNT, {"metadata": {"name": "default", "namespace": "default"}})
            for run in runs:
                measure(guest, (kernel, initrd), workdir, run, args.minutes)
    guest_mib = args.memory_mib
    print(f"\nQEMU under TCG, 1 vCPU, guest RAM {guest_mib} MiB, {args.minutes:g} min of load after Node Ready:\n")
    print(
        "| tb-size (MiB) | peak RSS (MiB) | of which guest RAM | TCG code buffer | rest of QEMU | overhead "
        "(RSS - guest RAM) | launcher RSS | code buffer used | work: busy rounds, hungry passes | QEMU CPU (s) | "
        "CPU s per (round + pass) | Node Ready (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        peak = run.peak
        overhead = run.hwm - guest_mib * MIB
        rounds = run.rounds[1:] or run.rounds
        print(
            f"| {run.tb_size or '1024 (default)'} | {run.hwm / MIB:.0f} | {peak.guest_ram / MIB:.0f} | "
            f"{max(s.code for s in run.samples) / MIB:.0f} | "
            f"{(peak.rss - peak.guest_ram - peak.code) / MIB:.0f} | {overhead / MIB:.0f} "
            f"({100 * overhead / (guest_mib * MIB):.0f} %) | {max(s.launcher for s in run.samples) / MIB:.0f} | "
            f"{jit_summary(run.jit)} | {len(run.rounds)} (median {statistics.median(rounds):.1f} s), {run.fills} | "
            f"{run.load_cpu:.0f} | {run.load_cpu / max(1, len(run.rounds) + run.fills):.2f} | "
            f"{run.ready_seconds:.0f} |"
        )
    print("\ngoal: overhead under 25 % of guest RAM under TCG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
