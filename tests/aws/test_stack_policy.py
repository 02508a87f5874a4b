"""The guest stack's steps as tables (pure logic, no server): each row what CloudFormation answered and what the
status recorded, and the step the operator takes. tests/aws/test_lifecycle.py and test_resilience.py prove the
resource acts on them against moto."""

from __future__ import annotations

import pytest

from aws_operator.stack_policy import (
    ChangeSet,
    CreateError,
    Delete,
    Next,
    Stack,
    change_set,
    change_set_name,
    create_error,
    delete_step,
    may_run,
    next_step,
    read,
    settled,
    succeeded,
)

DIGEST = "0123456789abcdef"


@pytest.mark.parametrize(
    ("situation", "status", "operation", "template_hash", "change_set_", "asked", "expected"),
    [
        ("complete with the current template", "UPDATE_COMPLETE", None, DIGEST, False, False, True),
        ("created, never changed", "CREATE_COMPLETE", None, DIGEST, False, False, True),
        ("an update rolled back: the old template is what runs", "UPDATE_ROLLBACK_COMPLETE", None, DIGEST, False,
         False, True),
        ("the spec changed", "UPDATE_COMPLETE", None, "fedcba9876543210", False, False, False),
        ("an operation under way", "UPDATE_COMPLETE", "update", DIGEST, False, False, False),
        ("in progress", "UPDATE_IN_PROGRESS", None, DIGEST, False, False, False),
        ("never seen", None, None, None, False, False, False),
        ("a change set waits (for approval)", "UPDATE_COMPLETE", None, DIGEST, True, False, False),
        ("the drift check found it gone", "UPDATE_COMPLETE", None, DIGEST, False, True, False),
    ],
)  # fmt: skip
def test_a_pass_without_aws(
    situation: str,
    status: str | None,
    operation: str | None,
    template_hash: str | None,
    change_set_: bool,
    asked: bool,
    expected: bool,
) -> None:
    found = settled(
        status=status,
        operation=operation,
        template_hash=template_hash,
        digest=DIGEST,
        change_set=change_set_,
        recreate_asked=asked,
    )
    assert found is expected, situation


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATE_IN_PROGRESS", Stack.PROGRESSING),
        ("UPDATE_IN_PROGRESS", Stack.PROGRESSING),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", Stack.PROGRESSING),
        ("UPDATE_ROLLBACK_IN_PROGRESS", Stack.PROGRESSING),
        ("DELETE_IN_PROGRESS", Stack.PROGRESSING),
        ("ROLLBACK_IN_PROGRESS", Stack.ROLLING_BACK),
        ("CREATE_FAILED", Stack.CREATE_FAILED),
        ("ROLLBACK_COMPLETE", Stack.CREATE_FAILED),
        ("ROLLBACK_FAILED", Stack.CREATE_FAILED),
        ("REVIEW_IN_PROGRESS", Stack.CREATE_FAILED),  # made by a change set of type CREATE: not ours to follow
        ("CREATE_COMPLETE", Stack.COMPLETE),
        ("UPDATE_COMPLETE", Stack.COMPLETE),
        ("UPDATE_ROLLBACK_COMPLETE", Stack.COMPLETE),
        ("IMPORT_COMPLETE", Stack.COMPLETE),
        ("UPDATE_ROLLBACK_FAILED", Stack.FAILED),
        ("UPDATE_FAILED", Stack.FAILED),
        ("DELETE_FAILED", Stack.FAILED),
    ],
)
def test_a_stacks_status(status: str, expected: Stack) -> None:
    assert read(status) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("CREATE_COMPLETE", True), ("UPDATE_COMPLETE", True), ("UPDATE_ROLLBACK_COMPLETE", False)],
)
def test_an_operation_succeeded(status: str, expected: bool) -> None:
    assert succeeded(status) is expected


@pytest.mark.parametrize(
    ("situation", "template_hash", "failed_template", "changed", "expected"),
    [
        ("the current template", DIGEST, None, False, Next.READY),
        ("the current template, after a change this pass", DIGEST, None, True, Next.READY),
        ("a new template", "fedcba9876543210", None, False, Next.CHANGE),
        ("a new template that failed before", "fedcba9876543210", DIGEST, False, Next.FAILED_BEFORE),
        ("a new template, an older one failed", "fedcba9876543210", "1111111111111111", False, Next.CHANGE),
        ("changed this pass, still not the template", "fedcba9876543210", None, True, Next.LOOK_AGAIN),
        ("a stack found without a recorded template", None, None, False, Next.CHANGE),
    ],
)
def test_what_a_complete_stack_needs(
    situation: str, template_hash: str | None, failed_template: str | None, changed: bool, expected: Next
) -> None:
    step = next_step(template_hash=template_hash, digest=DIGEST, failed_template=failed_template, changed=changed)
    assert step is expected, situation


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AlreadyExistsException", CreateError.FOUND),
        ("Throttling", CreateError.RETRY),
        ("ThrottlingException", CreateError.RETRY),
        ("RequestLimitExceeded", CreateError.RETRY),
        ("ServiceUnavailable", CreateError.RETRY),
        ("InternalFailure", CreateError.RETRY),
        ("ValidationError", CreateError.FAILED),
        ("InsufficientCapabilitiesException", CreateError.FAILED),
        ("LimitExceededException", CreateError.FAILED),
        ("AccessDenied", CreateError.FAILED),
    ],
)
def test_an_error_of_create_stack(code: str, expected: CreateError) -> None:
    assert create_error(code) is expected


def test_a_change_set_is_named_by_generation_and_template() -> None:
    assert change_set_name(7, DIGEST) == "kubeception-g7-0123456789ab"


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("CREATE_PENDING", "", ChangeSet.PENDING),
        ("CREATE_IN_PROGRESS", "", ChangeSet.PENDING),
        ("CREATE_COMPLETE", "", ChangeSet.READY),
        ("FAILED", "The submitted information didn't contain changes. Submit different information.", ChangeSet.EMPTY),
        ("FAILED", "No updates are to be performed.", ChangeSet.EMPTY),
        ("FAILED", "Template format error: Unresolved resource dependencies [X]", ChangeSet.FAILED),
        (None, "None", ChangeSet.FAILED),
    ],
)  # fmt: skip
def test_a_change_set(status: str | None, reason: str, expected: ChangeSet) -> None:
    assert change_set(status, reason) is expected


@pytest.mark.parametrize(
    ("situation", "approval_required", "approved", "expected"),
    [
        ("replaces no master", False, None, True),
        ("replaces masters, not approved", True, None, False),
        ("replaces masters, approved by name", True, "kubeception-g7-0123456789ab", True),
        ("replaces masters, an earlier change set approved", True, "kubeception-g6-fedcba987654", False),
        ("replaces no master, another one approved", False, "kubeception-g6-fedcba987654", True),
    ],
)
def test_a_change_set_may_run(situation: str, approval_required: bool, approved: str | None, expected: bool) -> None:
    found = may_run(approval_required=approval_required, approved=approved, change_set="kubeception-g7-0123456789ab")
    assert found is expected, situation


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATE_COMPLETE", Delete.DELETE),
        ("UPDATE_COMPLETE", Delete.DELETE),
        ("UPDATE_ROLLBACK_COMPLETE", Delete.DELETE),
        ("ROLLBACK_COMPLETE", Delete.DELETE),
        ("UPDATE_ROLLBACK_FAILED", Delete.DELETE),
        ("DELETE_FAILED", Delete.RETRY),
        ("DELETE_IN_PROGRESS", Delete.FOLLOW),
        ("CREATE_IN_PROGRESS", Delete.WAIT),
        ("UPDATE_IN_PROGRESS", Delete.WAIT),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", Delete.WAIT),
        ("ROLLBACK_IN_PROGRESS", Delete.WAIT),
    ],
)
def test_a_deletion_step(status: str, expected: Delete) -> None:
    assert delete_step(status) is expected
