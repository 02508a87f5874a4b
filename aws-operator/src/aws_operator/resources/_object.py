"""The cluster's objects on the mother (its namespace and PKI): owned by its AWSConfig through owner labels (they
live in the cluster's namespace, not the AWSConfig's), so deleted by us, in order — one at a time, each waited for,
or as a tier (:class:`operatorkit.DeletedTogether`): all deleted at once, then waited for together."""

from __future__ import annotations

from dataclasses import dataclass

from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import DeletedInOrder


@dataclass
class ClusterObject(DeletedInOrder[AWSConfigSpec, AWSConfigStatus]):
    """The base of the cluster's objects on the mother."""
