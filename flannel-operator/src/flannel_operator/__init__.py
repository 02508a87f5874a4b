"""Per-cluster VXLAN network: allocation, etcd config, flannel DaemonSet."""
