"""The command line every operator shares: ``python -m <operator> --kubeconfig ... --workers 4 ...``."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from operatorkit import logs
from operatorkit.client import KubeClient
from operatorkit.operator import Operator

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from operatorkit.controller import Controller


@dataclass(frozen=True)
class Options:
    """What the command line decided; passed to the operator's ``build`` function."""

    name: str
    kubeconfig: str | None
    namespace: str | None
    selector: str | None
    workers: int
    resync_period: float
    metrics_address: str
    probe_address: str
    leader_elect: bool
    leader_election_namespace: str
    leader_election_id: str
    lease_duration: float
    renew_deadline: float
    retry_period: float
    inactivity_timeout: float
    extra: dict[str, Any]


def parser(name: str) -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog=name, description=f"kubeception {name}")
    p.add_argument("--kubeconfig", default=env("KUBECONFIG"), help="kubeconfig (default: in-cluster config)")
    p.add_argument("--namespace", default=env("WATCH_NAMESPACE") or None, help="watch one namespace only")
    p.add_argument("--selector", default=None, help="label selector for the primary objects (sharding)")
    p.add_argument("--workers", type=int, default=4, help="concurrent reconciles per controller")
    p.add_argument("--resync-period", type=float, default=10 * 3600, help="seconds between full resyncs")
    p.add_argument("--metrics-address", default=":8080", help="host:port of /metrics ('' to disable)")
    p.add_argument("--probe-address", default=":8081", help="host:port of /healthz and /readyz")
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run leader election so only one replica reconciles",
    )
    p.add_argument("--leader-election-namespace", default=env("POD_NAMESPACE", "default"))
    p.add_argument("--leader-election-id", default=f"{name}-leader")
    p.add_argument("--lease-duration", type=float, default=15.0, help="seconds a lease is valid")
    p.add_argument("--renew-deadline", type=float, default=10.0, help="seconds the leader may fail to renew")
    p.add_argument("--retry-period", type=float, default=2.0, help="seconds between lease attempts")
    p.add_argument(
        "--inactivity-timeout",
        type=float,
        default=180.0,
        help="seconds without event or bookmark before a watch is restarted",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default="json", choices=["json", "text"])
    return p


def main(
    name: str,
    build: Callable[[Options, KubeClient], Sequence[Controller[Any]]],
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse arguments, build the controllers, run until SIGTERM; returns the exit code."""
    p = parser(name)
    if add_arguments is not None:
        add_arguments(p)
    args = p.parse_args(argv)
    logs.configure(args.log_level, json_format=args.log_format == "json")
    known = {a.dest for a in parser(name)._actions}
    options = Options(
        name=name,
        kubeconfig=args.kubeconfig,
        namespace=args.namespace,
        selector=args.selector,
        workers=args.workers,
        resync_period=args.resync_period,
        metrics_address=args.metrics_address,
        probe_address=args.probe_address,
        leader_elect=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        inactivity_timeout=args.inactivity_timeout,
        extra={k: v for k, v in vars(args).items() if k not in known},
    )
    client = KubeClient.load(options.kubeconfig)
    operator = Operator(
        name,
        client,
        build(options, client),
        namespace=options.namespace,
        label_selector=options.selector,
        leader_election=options.leader_elect,
        leader_election_namespace=options.leader_election_namespace,
        leader_election_id=options.leader_election_id,
        lease_duration=options.lease_duration,
        renew_deadline=options.renew_deadline,
        retry_period=options.retry_period,
        metrics_address=options.metrics_address or None,
        probe_address=options.probe_address or None,
        inactivity_timeout=options.inactivity_timeout,
    )
    return operator.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("operatorkit is a library; run an operator (python -m cert_operator ...)")
