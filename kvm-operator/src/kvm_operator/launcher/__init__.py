"""The VM launcher: PID 1 of a worker pod's ``vm`` container (``python3 -m kvm_operator.launcher``), in the
``ghcr.io/kubeception/vm`` image with Debian's QEMU.

It puts a tap on the cluster's bridge, starts QEMU with the node image's kernel and initramfs, the boot
configuration in fw_cfg and the serial console on its own stdout (the pod's log), under KVM where it works and TCG
emulation otherwise, and on SIGTERM presses the VM's power button through QMP and waits for the guest to stop
before it kills QEMU. It leaves nothing behind: the tap goes with it, killed or not (:mod:`.tap`).
"""
