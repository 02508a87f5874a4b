"""The hostile suite borrows the cert, flannel and kvm suites' fixtures (CRDs, OpenBao client)."""

from tests.cert.conftest import bao, cert_crds
from tests.flannel.conftest import flannel_crd
from tests.kvm.conftest import kvm_crds

__all__ = ["bao", "cert_crds", "flannel_crd", "kvm_crds"]
