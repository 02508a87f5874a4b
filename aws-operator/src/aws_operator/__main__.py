"""``python -m aws_operator``: the aws-operator process."""

import sys

from aws_operator.controller import build
from aws_operator.settings import AWSSettings
from operatorkit import run

sys.exit(run(AWSSettings, build))
