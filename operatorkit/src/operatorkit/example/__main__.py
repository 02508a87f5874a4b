"""``python -m operatorkit.example``: run the example operator."""

import sys

from operatorkit import run
from operatorkit.example.controller import GreetingSettings, build

sys.exit(run(GreetingSettings, build))
