"""The QEMU command line the launcher builds (pure logic): TCG's translation cache is capped, KVM has none."""

from __future__ import annotations

from kvm_operator.launcher.settings import LauncherSettings
from kvm_operator.launcher.vm import VM


def accel(settings: LauncherSettings, accelerator: str) -> str:
    command = VM(settings).command(accelerator)
    assert command[command.index("-machine") + 1] == "q35"
    return command[command.index("-accel") + 1]


def test_tcg_gets_a_capped_translation_cache_and_kvm_none():
    settings = LauncherSettings(name="worker-0")
    assert settings.tcg_tb_size_mib == 64  # measured: docs/benchmarks.md, bench/vm_memory.py
    assert accel(settings, "tcg") == "tcg,tb-size=64"
    assert accel(settings, "kvm") == "kvm"
    assert accel(LauncherSettings(name="worker-0", tcg_tb_size_mib=256), "tcg") == "tcg,tb-size=256"
    assert accel(LauncherSettings(name="worker-0", tcg_tb_size_mib=0), "tcg") == "tcg", "0: QEMU's own default"
