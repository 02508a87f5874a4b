"""Assume the guest account's role named by the credentials Secret (in the AWSConfig's own namespace: a tenant can
only point at Secrets it has). The role and account are recorded in status, so deletion reaches the account even
after the Secret is gone; the account may not change once something was made in it.

An account serves the clusters of one namespace. The ExternalId already names the namespace, so a role set up as
AWS advises cannot be assumed for another tenant; the operator does not rely on that alone. An account that an
AWSConfig of another namespace uses is refused before any call, naming that AWSConfig: one tenant's role ARN in
another tenant's Secret (a trust policy without the ExternalId condition) makes nothing in the first's account."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from aws_operator.aws import AWSError
from aws_operator.shared import NoAccount, Shared
from aws_operator.spec import AWS_CONFIG, ROLE_ARN, AWSConfigSpec, AWSConfigStatus
from operatorkit import READY, Resource, object_key
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from aws_operator.spec import AWSContext
    from operatorkit import Object

CONDITION = "CredentialsValid"


@dataclass
class Credentials(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        spec = ctx.spec
        secret_name = spec.credentials.secret_name
        role = self._role(ctx, secret_name)
        recorded_role = ctx.status.role_arn
        if recorded_role and ctx.status.stacks and recorded_role.split(":")[4] != role.split(":")[4]:
            self._refuse(
                ctx,
                "AccountChanged",
                f"Secret {secret_name} names a role in account {role.split(':')[4]}, but this cluster's stacks are in "
                f"account {recorded_role.split(':')[4]}; a cluster cannot move to another account",
            )
        self._claim_account(ctx, role.split(":")[4])
        try:
            account = self.shared.aws.account(role, ctx.namespace or "", spec.region)
        except AWSError as exc:
            if not ctx.status.role_arn:
                with self.shared.account_lock:  # nothing was made in it: the account is not this cluster's
                    self.shared.account_reserved.pop(object_key(ctx.obj), None)
            self._refuse(ctx, "AssumeRoleFailed", f"cannot assume {role}: {exc.code}: {exc.aws_message}")
        ctx.status.role_arn, ctx.status.account, ctx.status.region = role, account.account_id, spec.region
        ctx.set_condition(
            CONDITION,
            "True",
            "RoleAssumed",
            f"assumed {role} in account {account.account_id} "
            f"(ExternalId {self.shared.aws.external_id(ctx.namespace or '')})",
        )

    def ensure_deleted(self, ctx: AWSContext) -> None:
        with self.shared.account_lock:
            self.shared.account_reserved.pop(object_key(ctx.obj), None)

    def needs_finalizer(self, primary: object) -> bool:
        return False

    def _claim_account(self, ctx: AWSContext, account: str) -> None:
        """Refuse ``account`` when an AWSConfig of another namespace uses it (recorded, or let in by this process)."""
        me, namespace = object_key(ctx.obj), ctx.namespace or ""
        if ctx.recorded.account == account:
            return  # already working in it (let in before, or before this rule): taking it away would strand it
        with self.shared.account_lock:
            users = [
                object_key(obj)
                for obj in ctx.cache(AWS_CONFIG).objects()
                if obj["metadata"].get("namespace") != namespace and _account_of(obj) == account
            ]
            users += [
                other
                for other, used in self.shared.account_reserved.items()
                if used == account and other.split("/")[0] != namespace
            ]
            if users:
                self._refuse(
                    ctx,
                    "AccountInUse",
                    f"account {account} is used by AWSConfig {sorted(users)[0]}; an account serves the clusters of "
                    "one namespace",
                )
            self.shared.account_reserved[me] = account

    def _role(self, ctx: AWSContext, secret_name: str) -> str:
        secret = ctx.client.get_or_none(SECRET, secret_name, ctx.namespace)
        if secret is None:
            self._refuse(ctx, "SecretNotFound", f"Secret {ctx.namespace}/{secret_name} does not exist")
        raw = (secret.get("data") or {}).get("roleARN", "")
        try:
            role = base64.b64decode(raw, validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            role = ""
        if not ROLE_ARN.fullmatch(role):
            self._refuse(
                ctx,
                "InvalidRoleARN",
                f"Secret {ctx.namespace}/{secret_name}: key roleARN must be an IAM role ARN "
                "(arn:aws:iam::<12-digit account>:role/<name>)",
            )
        return role

    @staticmethod
    def _refuse(ctx: AWSContext, reason: str, message: str) -> NoReturn:
        ctx.set_condition(CONDITION, "False", reason, message)
        ctx.set_condition(READY, "False", reason, message)
        raise NoAccount(message, reason=reason)


def _account_of(obj: Object) -> str | None:
    status = obj.get("status") or {}
    if status.get("account"):
        return str(status["account"])
    role = str(status.get("roleARN") or "")
    return role.split(":")[4] if ROLE_ARN.fullmatch(role) else None
