"""Guest nodes as QEMU/KVM VMs in pods of the mother cluster."""
