"""``python -m kvm_operator.launcher``: one worker VM, until the pod stops."""

from __future__ import annotations

import logging
import signal
import sys

from pydantic_settings import CliApp

from kvm_operator.launcher.settings import LauncherSettings
from kvm_operator.launcher.vm import VM


def main() -> int:
    settings = CliApp.run(LauncherSettings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    vm = VM(settings)
    signal.signal(signal.SIGTERM, lambda *_: vm.stop())
    signal.signal(signal.SIGINT, lambda *_: vm.stop())
    return vm.run()


sys.exit(main())
