"""``python -m operatorkit.example``: run the example operator."""

import sys

from operatorkit.cli import main
from operatorkit.example.controller import build_controllers

sys.exit(main("greeting-operator", build_controllers))
