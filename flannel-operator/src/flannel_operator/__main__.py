"""``python -m flannel_operator``: the flannel-operator process."""

import sys

from flannel_operator.controller import build
from flannel_operator.settings import FlannelSettings
from operatorkit import run

sys.exit(run(FlannelSettings, build))
