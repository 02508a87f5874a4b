"""The hostile suite borrows the cert and flannel suites' fixtures (CRDs, OpenBao client)."""

from tests.cert.conftest import bao, cert_crds
from tests.flannel.conftest import flannel_crd

__all__ = ["bao", "cert_crds", "flannel_crd"]
