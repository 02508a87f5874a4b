"""One VM's life: its tap, the QEMU command line, the accelerator, the serial console, a clean power-down."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from kvm_operator import bootconfig
from kvm_operator.bootconfig import FW_CFG_NAME, STATE_DISK_SERIAL
from kvm_operator.launcher.address import AddressClaims, read_lease
from kvm_operator.launcher.qmp import QMP, QMPError
from kvm_operator.launcher.tap import Tap, link_exists, tap_name

if TYPE_CHECKING:
    import ipaddress
    from pathlib import Path

    from kvm_operator.launcher.settings import LauncherSettings

log = logging.getLogger("kvm_operator.launcher")
ACCELERATOR_LABEL = "kubeception.io/accelerator"


def mac_address(name: str) -> str:
    """A locally administered unicast MAC derived from the VM's name: stable across restarts of its pod."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def kvm_available() -> bool:
    """/dev/kvm opens for reading and writing (the device exists and this container may use it)."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError:
        return False
    return True


class VM:
    def __init__(self, settings: LauncherSettings) -> None:
        self.settings = settings
        self.tap = Tap(tap_name(settings.name, settings.bridge), settings.bridge) if settings.bridge else None
        self.mac = settings.mac or mac_address(settings.name)
        self.qmp_socket = settings.state_dir / f"{settings.name}.qmp"
        self.boot_config = settings.state_dir / "config.ign"  # what QEMU hands in: the Secret's, completed here
        self._config: dict[str, Any] = {}
        self._claims: AddressClaims | None = None
        self.accelerator = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._console_started = threading.Event()
        self._stop = threading.Event()

    def command(self, accelerator: str) -> list[str]:
        s = self.settings
        # The netdev's id is the tap's name, so the host's process list tells which QEMU holds which tap.
        tap = self.tap
        network = (
            ["-netdev", f"tap,id={tap.name},fd={tap.fd}",
             "-device", f"virtio-net-pci,netdev={tap.name},mac={self.mac}"]
            if tap is not None and tap.fd is not None else ["-nic", "none"]
        )  # fmt: skip
        tcg = f"tcg,tb-size={s.tcg_tb_size_mib}" if s.tcg_tb_size_mib else "tcg"
        return [
            s.qemu,
            "-name", s.name,
            "-machine", "q35",
            "-accel", tcg if accelerator == "tcg" else accelerator,
            "-cpu", "host" if accelerator == "kvm" else "max",
            "-smp", str(s.cpus),
            "-m", str(s.memory_mib),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", "stdio",
            "-kernel", str(s.kernel),
            "-initrd", str(s.initrd),
            "-append", s.kernel_args,
            "-fw_cfg", f"name={FW_CFG_NAME},file={self.boot_config}",
            # The guest formats it at every boot: its contents never outlive the VM, so no cache flush is waited
            # for (cache=unsafe), and what the guest deletes frees the emptyDir (discard=unmap).
            "-drive", f"file={s.disk},format=raw,if=none,id=state,cache=unsafe,discard=unmap",
            "-device", f"virtio-blk-pci,drive=state,serial={STATE_DISK_SERIAL}",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            *network,
        ]  # fmt: skip

    def run(self) -> int:
        """Boot, then wait until the guest stops or :meth:`stop` powers it down; the exit code of QEMU (0 after a
        clean power-down)."""
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        with s.disk.open("wb") as disk:  # sparse: the emptyDir holds what the guest writes, not the size
            disk.truncate(s.disk_gib << 30)
        if self.tap is not None:
            self.tap.open()
        try:
            self._config = bootconfig.loads(s.boot_config.read_bytes())
            address = self._join_network(s.flannel_env) if s.flannel_env is not None else None
            if self.tap is not None:
                self.tap.guard(self.mac, address)
            self.accelerator = self._choose_accelerator()
            if self._process is None:
                self._start(self.accelerator)
            (s.state_dir / "accelerator").write_text(self.accelerator + "\n")
            log.info("VM %s running under %s", s.name, self.accelerator.upper())
            return self._wait()
        finally:
            if self._claims is not None:
                self._claims.release(s.name)
            if self.tap is not None:
                self.tap.close()

    def stop(self) -> None:
        """Ask the guest to power down (SIGTERM of the pod); :meth:`run` then waits for it."""
        self._stop.set()

    def _join_network(self, lease_file: Path) -> ipaddress.IPv4Address:
        """Take an address in this host's lease; the boot configuration gets it."""
        lease, bridge = read_lease(lease_file), self.settings.bridge or ""
        self._claims = AddressClaims(
            lease_file.with_suffix(".vms"), lease, lambda name: link_exists(tap_name(name, bridge))
        )
        address = self._claims.claim(self.settings.name)
        network = bootconfig.NodeNetwork(self.mac, address, lease.gateway.ip, lease.mtu)
        self._config = bootconfig.with_network(self._config, self.settings.name, network)
        log.info("VM %s takes %s on %s (gateway %s)", self.settings.name, address, bridge, lease.gateway.ip)
        return address.ip

    def _choose_accelerator(self) -> str:
        requested = self.settings.accelerator
        if requested != "auto":
            return requested
        if not kvm_available():
            log.info("/dev/kvm is not usable here: TCG emulation")
            return "tcg"
        # A KVM that initialises can still make no progress (a nested or restricted host): the guest's first
        # console output is the proof, and its absence a fallback to emulation.
        self._start("kvm")
        if self._console_started.wait(self.settings.kvm_probe_seconds):
            return "kvm"
        log.warning("no console output under KVM in %.0f s: falling back to TCG", self.settings.kvm_probe_seconds)
        self._kill()
        self._start("tcg")
        return "tcg"

    def _start(self, accelerator: str) -> None:
        # The Node tells which accelerator its VM runs under (the KVMConfig's status reads it from there).
        config = bootconfig.with_labels(self._config, {ACCELERATOR_LABEL: accelerator})
        self.boot_config.write_bytes(bootconfig.dumps(config))
        self.qmp_socket.unlink(missing_ok=True)
        self._console_started.clear()
        self._process = subprocess.Popen(
            self.command(accelerator),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            pass_fds=() if self.tap is None or self.tap.fd is None else (self.tap.fd,),
        )
        assert self._process.stdout is not None
        threading.Thread(target=self._console, args=(self._process.stdout,), daemon=True).start()

    def _console(self, stream: IO[bytes]) -> None:
        """The guest's serial console, line by line, onto the container's log."""
        for line in iter(stream.readline, b""):
            self._console_started.set()
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    def _wait(self) -> int:
        process = self._process
        assert process is not None
        while process.poll() is None:
            if self._stop.wait(0.5):
                return self._power_down(process)
        log.info("QEMU exited with %s", process.returncode)
        return process.returncode

    def _power_down(self, process: subprocess.Popen[bytes]) -> int:
        deadline = time.monotonic() + self.settings.shutdown_seconds
        try:
            qmp = QMP(self.qmp_socket)
            qmp.command("system_powerdown")
            qmp.close()
            log.info("power button pressed; waiting up to %.0f s", self.settings.shutdown_seconds)
        except (OSError, QMPError) as error:
            log.warning("power-down through QMP failed (%s): stopping QEMU", error)
            deadline = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
            log.info("guest powered off")
            return 0
        log.warning("guest still running after %.0f s: killing QEMU", self.settings.shutdown_seconds)
        self._kill()
        return 1

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
