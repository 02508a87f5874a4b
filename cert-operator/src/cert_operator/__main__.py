"""``python -m cert_operator``: the cert-operator process."""

import sys

from cert_operator.controller import build
from cert_operator.settings import CertSettings
from operatorkit import run

sys.exit(run(CertSettings, build))
