"""The launcher's settings: flags and ``KVM_LAUNCHER_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from operatorkit import DNS_LABEL

_LINK = r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,14}$"  # a Linux interface name: at most 15 characters


class LauncherSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KVM_LAUNCHER_",
        cli_prog_name="kvm-launcher",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        use_attribute_docstrings=True,
        extra="forbid",
        frozen=True,
    )

    name: str = pydantic.Field(max_length=63, pattern=DNS_LABEL)
    """The VM's name (= its pod's and its Node's): QEMU's -name, and what its tap (with the bridge's name) and MAC
    address derive from."""
    cpus: int = pydantic.Field(default=1, ge=1, le=64)
    memory_mib: int = pydantic.Field(default=1024, ge=256, le=262144)
    kernel: Path = Path("/vm/vmlinuz")
    initrd: Path = Path("/vm/initrd.img")
    disk: Path = Path("/vm/state.img")
    """The VM's state disk (containerd, kubelet): a sparse file in the pod's emptyDir, made at start."""
    disk_gib: int = pydantic.Field(default=10, ge=1, le=65536)
    boot_config: Path = Path("/etc/kubeception/boot/config.ign")
    """The node's Ignition config (plain or gzip'd), completed with its network and accelerator and handed to the
    guest through fw_cfg."""
    bridge: str | None = pydantic.Field(default=None, pattern=_LINK)
    """The bridge the VM's tap joins (the cluster's flannel bridge); without one, the VM has no network."""
    flannel_env: Path | None = None
    """This host's lease of the cluster's network (flanneld's subnet file, ``/run/flannel/<bridge>.env``): the VM
    takes an address in it (claims beside it, in ``<bridge>.vms/``) and the bridge's address as its gateway, and
    the launcher adds that network to the boot configuration. Without it the configuration must carry one."""
    mac: str | None = pydantic.Field(default=None, pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
    """The NIC's MAC address; derived from the name when not given (the boot configuration matches on it)."""
    accelerator: str = pydantic.Field(default="auto", pattern=r"^(auto|kvm|tcg)$")
    """``kvm``, ``tcg`` (emulation), or ``auto``: KVM when /dev/kvm opens and the guest makes progress under it
    (its console prints within ``kvm_probe_seconds``), else TCG."""
    kvm_probe_seconds: float = pydantic.Field(default=15.0, gt=0, le=300)
    tcg_tb_size_mib: int = pydantic.Field(default=64, ge=0, le=4096)
    """Under TCG, the cap on QEMU's translation cache (``-accel tcg,tb-size=``): without one QEMU 7.2 lets it grow
    to 1 GiB, on top of the guest's RAM, and the VM pod is OOM-killed. 0 leaves QEMU's default. KVM has no such
    cache. The default is measured (docs/benchmarks.md, ``bench/vm_memory.py``)."""
    state_dir: Path = Path("/run/kvm-launcher")
    """The QMP socket and the accelerator actually used (``accelerator`` file) live here."""
    shutdown_seconds: float = pydantic.Field(default=60.0, gt=0, le=3600)
    """How long a powered-down guest may take to stop (kubelet, then containerd) before QEMU is killed."""
    qemu: str = "qemu-system-x86_64"
    kernel_args: str = pydantic.Field(default="console=ttyS0 panic=-1 loglevel=4", max_length=1024)
