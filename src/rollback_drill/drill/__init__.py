"""The drill: one rehearsal from migrated state to verdict — the one package that joins the runbook
with the system under test, observation, evidence and the cluster. Modules:

- pipeline.py — a drill as data (DrillPlan) plus named phases, their order written once, one runner
- engine.py — one drill (the Drill) and its phase methods: migrated state to checks
- plan.py — how the harness read a runbook and what a drill of it would do; criteria as metric specs
- targets.py — what a drill may aim at, decided before anything runs
- preflight.py — preflight on a live cluster (items: runbook/preflight.py)
- staging.py — what the runbook's level says of a team's release (sut/existing.py)
- recovery.py — when the service is recovered, and why
- verify.py — 手順4 and the 実施後 checklist after the rollback
- phases.py, result.py, verdict.py — where the time went, the result, the verdict
- runner.py — `rollback-drill run` / staging / `mutate` outside pytest (each runs the pipeline)
- mutate.py — mutation testing of a rollback level
- hints.py — a game day's `hint`: the runbook step that matches the cluster's state
- lanes.py — drills side by side: one child drill per lane (its own namespace, host, datastores)
- gameday.py — a person's game day judged from what was typed (no cluster); gameday_session.py — `rollback-drill gameday`; recorded_shell.py — the operator's recorded tmux shell
"""
