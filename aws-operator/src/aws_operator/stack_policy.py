"""What the guest stack does next, as pure functions of what CloudFormation answered and what the status recorded:
whether a pass needs AWS at all, what a stack's status means for the operation under way (follow it, wait, fail,
change), what an error of CreateStack means, whether a change set is ready and may run, and what a deletion does.

:class:`aws_operator.resources.guest_stack.GuestStack` asks these and makes the calls;
``tests/aws/test_stack_policy.py`` holds them as tables: a situation per row, and the step it gets.
"""

from __future__ import annotations

import enum

from aws_operator.stacks import COMPLETE, CREATE_FAILED, NO_CHANGES

TRANSIENT = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "InternalFailure", "ServiceUnavailable"}
)
"""Errors worth the same call again, later."""
PENDING_CHANGE_SET = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})


def settled(
    *,
    status: str | None,
    operation: str | None,
    template_hash: str | None,
    digest: str,
    change_set: bool,
    recreate_asked: bool,
) -> bool:
    """Nothing to ask AWS this pass: the stack is complete with the current template (``digest``), no operation nor
    change set is under way, and nobody asked to make it again. (The drift check looks at the account on its own
    schedule.)"""
    return status in COMPLETE and not operation and template_hash == digest and not change_set and not recreate_asked


class Stack(enum.Enum):
    """A stack's status, read for the operation under way."""

    ROLLING_BACK = "rolling back"
    """A failed creation rolling back: wait for it."""
    CREATE_FAILED = "create failed"
    """A failed creation: deleted, and its template not tried again until the spec changes."""
    PROGRESSING = "progressing"
    FAILED = "failed"
    """Stuck (UPDATE_ROLLBACK_FAILED, DELETE_FAILED, …): a person must look."""
    COMPLETE = "complete"


def read(status: str) -> Stack:
    if status in CREATE_FAILED or status == "REVIEW_IN_PROGRESS":
        return Stack.ROLLING_BACK if status == "ROLLBACK_IN_PROGRESS" else Stack.CREATE_FAILED
    if status.endswith("_IN_PROGRESS"):
        return Stack.PROGRESSING
    if status not in COMPLETE:
        return Stack.FAILED
    return Stack.COMPLETE


def succeeded(status: str) -> bool:
    """Whether an operation that reached a complete status did what it was for (an update rolled back did not)."""
    return status != "UPDATE_ROLLBACK_COMPLETE"


class Next(enum.Enum):
    """What a complete stack needs."""

    READY = "ready"
    """It has the current template."""
    FAILED_BEFORE = "failed before"
    """The current template failed once: not tried again until the spec changes."""
    LOOK_AGAIN = "look again"
    """It changed this pass already: one change per pass, the next looks again."""
    CHANGE = "change"
    """A change set to the current template."""


def next_step(*, template_hash: str | None, digest: str, failed_template: str | None, changed: bool) -> Next:
    if template_hash == digest:
        return Next.READY
    if failed_template == digest:
        return Next.FAILED_BEFORE
    return Next.LOOK_AGAIN if changed else Next.CHANGE


class CreateError(enum.Enum):
    """What an error of CreateStack means."""

    FOUND = "found"
    """It exists (an earlier call made it, or a restart): read it, its claim decides."""
    RETRY = "retry"
    FAILED = "failed"


def create_error(code: str) -> CreateError:
    if code == "AlreadyExistsException":
        return CreateError.FOUND
    return CreateError.RETRY if code in TRANSIENT else CreateError.FAILED


def change_set_name(generation: int, digest: str) -> str:
    """One name per spec generation and template: the idempotency token of its creation and execution."""
    return f"kubeception-g{generation}-{digest[:12]}"


class ChangeSet(enum.Enum):
    """A change set as DescribeChangeSet tells it."""

    PENDING = "pending"
    EMPTY = "empty"
    """Nothing to change: the stack has the template already, recorded as such."""
    FAILED = "failed"
    """Could not be made: the template is not tried again until the spec changes."""
    READY = "ready"


def change_set(status: str | None, reason: str) -> ChangeSet:
    if status in PENDING_CHANGE_SET:
        return ChangeSet.PENDING
    if status != "CREATE_COMPLETE":
        return ChangeSet.EMPTY if any(text in reason for text in NO_CHANGES) else ChangeSet.FAILED
    return ChangeSet.READY


def may_run(*, approval_required: bool, approved: str | None, change_set: str) -> bool:
    """A change set runs unless it replaces masters (or what they stand on) and the AWSConfig's approval annotation
    (``approved``) does not name it — an approval of an earlier change set approves nothing else."""
    return not approval_required or approved == change_set


class Delete(enum.Enum):
    """A deletion's step for the stack's status."""

    WAIT = "wait"
    """Another operation is under way: delete after it."""
    DELETE = "delete"
    RETRY = "retry"
    """DELETE_FAILED: said, and deleted again (what held it may be gone)."""
    FOLLOW = "follow"
    """Being deleted: look again."""


def delete_step(status: str) -> Delete:
    if status == "DELETE_IN_PROGRESS":
        return Delete.FOLLOW
    if status.endswith("_IN_PROGRESS"):
        return Delete.WAIT
    return Delete.RETRY if status == "DELETE_FAILED" else Delete.DELETE
