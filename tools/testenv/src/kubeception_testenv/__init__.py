"""Real servers on loopback for tests and the local demo: a Kubernetes control plane and its side servers.

Every server here is the real program (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
OpenBao, moto, HAProxy), started on free ports, logged to files and stopped with its children.
"""

from kubeception_testenv._binaries import BinaryNotFoundError, find_binary
from kubeception_testenv._process import Server, ServerError
from kubeception_testenv.addresses import LocalAddresses
from kubeception_testenv.controlplane import ControlPlane
from kubeception_testenv.guest import GuestAPIServer, SecretVolume
from kubeception_testenv.servers import EtcdServer, HAProxyServer, MotoServer, OpenBaoServer, haproxy_check
from operatorkit.testing import wait_until as wait_for  # the suites' name for the one implementation

__all__ = [
    "BinaryNotFoundError",
    "ControlPlane",
    "EtcdServer",
    "GuestAPIServer",
    "HAProxyServer",
    "LocalAddresses",
    "MotoServer",
    "OpenBaoServer",
    "SecretVolume",
    "Server",
    "ServerError",
    "find_binary",
    "haproxy_check",
    "wait_for",
]
