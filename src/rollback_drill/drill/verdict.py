"""The verdict of one drill, from its measurements (pure: unit-tested without a cluster).

Order matters: the most fundamental failure names the verdict. A decision after the severity's
deadline fails the drill even when the rollback then worked: the runbook's deadline is part of
the procedure.
"""

from __future__ import annotations

VERDICTS = ("passed", "not_detected", "not_recovered", "target_missed", "decision_late", "check_failed",
            "interrupted")


def verdict(*, detected: bool, level_run: bool, recovery_s: float | None, target_max_s: float | None,
            decision_s: float | None, decision_deadline_s: float | None, decision_slack_s: float,
            checks_ok: bool | None, interrupted: bool = False) -> str:
    if interrupted:
        return "interrupted"
    if not detected:
        return "not_detected"
    if level_run and recovery_s is None:
        return "not_recovered"
    if recovery_s is not None and target_max_s is not None and recovery_s > target_max_s:
        return "target_missed"
    if decision_s is not None and decision_deadline_s is not None and \
            decision_s > decision_deadline_s + decision_slack_s:
        return "decision_late"
    if checks_ok is False:
        return "check_failed"
    return "passed"
