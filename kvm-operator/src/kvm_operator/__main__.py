"""``python -m kvm_operator``: the kvm-operator process."""

import sys

from kvm_operator.controller import build
from kvm_operator.settings import KVMSettings
from operatorkit import run

sys.exit(run(KVMSettings, build))
