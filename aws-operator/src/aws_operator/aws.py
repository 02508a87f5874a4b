"""Talking to AWS: the operator's own credentials assume each guest account's role; every call is counted (by
service, operation and outcome) and every failure becomes an :class:`AWSError` that says which call failed and
AWS's own words.

Assumed credentials are kept per role until five minutes before they expire, so a cluster's reconciles cost one
AssumeRole an hour, not one per pass. Clients are made per account and region and reused (botocore clients are
thread-safe; making one costs milliseconds of CPU).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast, overload

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers

from aws_operator import metrics
from operatorkit import ReconcileError

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.client import BaseClient
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elb import ElasticLoadBalancingClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

    from aws_operator.settings import AWSSettings

P = ParamSpec("P")
R = TypeVar("R")

_RENEW_BEFORE = 300.0


class AWSError(ReconcileError):
    """An AWS call failed: ``code`` is AWS's error code (``AccessDenied``, ``ValidationError``, ...)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}", reason="AWSError")
        self.operation, self.code, self.aws_message = operation, code, message


def error_code(exc: Exception) -> str:
    if isinstance(exc, AWSError):
        return exc.code
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def call(operation: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(**kwargs)``, a botocore failure raised as :class:`AWSError` (typed as ``fn`` is: the boto3 stubs check
    the parameters and describe the answer)."""
    try:
        return fn(*args, **kwargs)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise AWSError(operation, str(error.get("Code", "Unknown")), str(error.get("Message", exc))) from exc
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as exc:
        raise AWSError(operation, type(exc).__name__, str(exc).splitlines()[0]) from exc


@dataclass
class Account:
    """One guest account, as the assumed role: clients per service for one region, made from the operator's one
    boto3 session (its loaded service models are shared: a session per account would cost tens of MiB each)."""

    account_id: str
    role_arn: str
    region: str
    credentials: dict[str, str]
    make_client: Callable[[str, str, dict[str, str]], BaseClient]
    expires: float
    _clients: dict[str, BaseClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @overload
    def client(self, service: Literal["autoscaling"]) -> AutoScalingClient: ...
    @overload
    def client(self, service: Literal["cloudformation"]) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["ec2"]) -> EC2Client: ...
    @overload
    def client(self, service: Literal["elb"]) -> ElasticLoadBalancingClient: ...
    @overload
    def client(self, service: Literal["iam"]) -> IAMClient: ...
    @overload
    def client(self, service: Literal["kms"]) -> KMSClient: ...
    @overload
    def client(self, service: Literal["route53"]) -> Route53Client: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    def client(self, service: str) -> BaseClient:
        """The service's client, typed by the boto3 stubs (one overload per service the operator calls)."""
        with self._lock:
            found = self._clients.get(service)
            if found is None:
                found = self.make_client(service, self.region, self.credentials)
                self._clients[service] = found
            return found


def _count(http_response: Any, model: Any, **_: Any) -> None:
    code = getattr(http_response, "status_code", 0)
    metrics.api_calls.labels(model.service_model.service_name, model.name, "ok" if code < 400 else "error").inc()


def _count_error(event_name: str, **_: Any) -> None:
    """``after-call-error.<service>.<Operation>``: a call that failed without an answer (connection, timeout)."""
    parts = [*event_name.split("."), "?", "?"]
    service, operation = parts[1], parts[2]
    metrics.api_calls.labels(service, operation, "error").inc()


class AWS:
    """The operator's way into guest accounts."""

    def __init__(self, settings: AWSSettings) -> None:
        self.settings = settings.aws
        self.config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=self.settings.timeout_seconds,
            read_timeout=self.settings.timeout_seconds,
        )
        self._base = boto3.Session()
        self._sts: dict[str, STSClient] = {}
        self._accounts: dict[tuple[str, str, str], Account] = {}
        self._lock = threading.Lock()
        self._make_lock = threading.Lock()

    def external_id(self, tenant_namespace: str) -> str:
        return f"{self.settings.external_id_prefix}:{tenant_namespace}"

    def account(self, role_arn: str, tenant_namespace: str, region: str) -> Account:
        """The guest account behind ``role_arn``, assumed for ``tenant_namespace``'s cluster in ``region``."""
        cache_key = (role_arn, tenant_namespace, region)
        with self._lock:
            found = self._accounts.get(cache_key)
        if found is not None and found.expires - _RENEW_BEFORE > time.time():
            return found
        answer = call(
            "sts:AssumeRole",
            self._sts_client(region).assume_role,
            RoleArn=role_arn,
            RoleSessionName="kubeception",
            ExternalId=self.external_id(tenant_namespace),
            DurationSeconds=self.settings.session_seconds,
        )
        credentials = answer["Credentials"]
        account = Account(
            account_id=role_arn.split(":")[4],
            role_arn=role_arn,
            region=region,
            credentials={
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            },
            make_client=self._client,
            expires=credentials["Expiration"].timestamp(),
        )
        with self._lock:
            self._accounts[cache_key] = account
        return account

    def forget(self, role_arn: str, tenant_namespace: str, region: str) -> None:
        with self._lock:
            self._accounts.pop((role_arn, tenant_namespace, region), None)

    def _client(self, service: str, region: str, credentials: dict[str, str] | None = None) -> BaseClient:
        """A client of the one shared session (making clients is not thread-safe: one at a time), counted."""
        base: Any = self._base
        with self._make_lock:
            found: BaseClient = base.client(
                service,
                region_name=region,
                endpoint_url=self.settings.endpoint_url,
                config=self.config,
                **(credentials or {}),
            )
        found.meta.events.register("after-call", _count)
        found.meta.events.register("after-call-error", _count_error)
        return found

    def _sts_client(self, region: str) -> STSClient:
        with self._lock:
            found = self._sts.get(region)
            if found is None:
                found = self._sts[region] = cast("STSClient", self._client("sts", region))
            return found
