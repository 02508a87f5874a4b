"""``python -m ingress_operator``: the ingress-operator process."""

import sys

from ingress_operator.controller import build
from ingress_operator.settings import IngressSettings
from operatorkit import run

sys.exit(run(IngressSettings, build))
