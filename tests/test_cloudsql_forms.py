"""The Cloud SQL stand-in's `sql operations wait`, `sql backups describe` and `sql instances describe`
(issue 21 item 4): they behave as gcloud 528 does, and none of them needs PostgreSQL.

No Kubernetes, no PostgreSQL: the operations file and a backup's metadata are written directly into
a throw-away ROLLBACK_DRILL_STATE, as tests/test_gcloud_differential.py seeds them. Argument rules
against the real CLI are that test's business; these check what happens after the parser.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rollback_drill.sut import cloudsql

REPO = Path(__file__).resolve().parents[1]
BACKUP = "1700000000000"
P = cloudsql.PROJECT


@pytest.fixture
def state(tmp_path, monkeypatch):
    """A stand-in state with one backup and no PostgreSQL anywhere (any attempt to reach it fails the test)."""
    monkeypatch.setenv("ROLLBACK_DRILL_STATE", str(tmp_path))
    monkeypatch.setenv("ROLLBACK_DRILL_PG_LISTEN", "127.0.0.1")
    monkeypatch.setenv("ROLLBACK_DRILL_LANE", "0")  # lane 0's folders, also in a pytest-xdist worker of lane K
    backups = tmp_path / "datastores" / "backups"
    backups.mkdir(parents=True)
    (backups / f"{BACKUP}.json").write_text(json.dumps({
        "id": BACKUP, "instance": "mastodon-db", "status": "SUCCESSFUL", "type": "ON_DEMAND",
        "description": "seeded by the test", "windowStartTime": "2023-11-14T22:13:20+00:00"}))
    return backups


def _no_postgres(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError(f"the stand-in tried to reach PostgreSQL or run a process: {a[:1]}")
    # the stand-in's own view of these modules only (the test itself may still run processes)
    monkeypatch.setattr(cloudsql, "socket", SimpleNamespace(create_connection=refuse))
    monkeypatch.setattr(cloudsql, "subprocess", SimpleNamespace(run=refuse, Popen=refuse))
    monkeypatch.setattr(cloudsql.Datastores, "psql", refuse)
    monkeypatch.setattr(cloudsql.Datastores, "restore_backup", refuse)


def _ops(backups: Path, *ops: dict) -> None:
    (backups / "operations.json").write_text(json.dumps(list(ops)))


def _op(name: str, status: str, **extra) -> dict:
    return {"name": name, "type": "RESTORE_VOLUME", "insert": "2024-05-01T10:00:00+00:00",
            "start": "" if status == "PENDING" else "2024-05-01T10:00:02+00:00",
            "end": "2024-05-01T10:21:00+00:00" if status == "DONE" else "", "status": status, **extra}


def _standin(args: list[str], env_state: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLBACK_DRILL_")}
    env.update(ROLLBACK_DRILL_STATE=str(env_state))  # no ROLLBACK_DRILL_PG_LISTEN: describe/wait need none
    return subprocess.Popen([sys.executable, "-m", "rollback_drill.sut.cloudsql", *args], env=env, cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ---- operations wait, for real (a subprocess, real time) -------------------------------------------
def test_wait_returns_when_the_operation_becomes_done(state, tmp_path):
    _ops(state, _op("restore-1", "RUNNING"))
    started = time.monotonic()
    proc = _standin(["sql", "operations", "wait", "restore-1", "--timeout=60"], tmp_path)
    time.sleep(2.0)
    assert proc.poll() is None, "the wait returned while the operation was still RUNNING"
    _ops(state, _op("restore-1", "DONE"))
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    assert f"Waiting for [{cloudsql.API}/projects/{P}/operations/restore-1]...done." in err
    assert re.search(r"^restore-1\s+RESTORE_VOLUME\s.*\sDONE$", out, re.M), out
    assert elapsed < 2.0 + 1 + 2 + 4 + 1 + 5  # within gcloud's next poll (backoff 2 s, 4 s, … + jitter)


def test_wait_times_out_as_gcloud_does(state, tmp_path):
    _ops(state, _op("restore-2", "RUNNING"))
    started = time.monotonic()
    proc = _standin(["sql", "operations", "wait", "--timeout", "3", "restore-2"], tmp_path)
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert out == ""
    assert err.rstrip().endswith(
        f"...failed.\nERROR: (gcloud.sql.operations.wait) Operation {cloudsql.API}/projects/{P}/operations/restore-2 "
        f"is taking longer than expected. You can continue waiting for the operation by running "
        f"`gcloud sql operations wait --project {P} restore-2`"), err
    # 1 s before the first poll, a poll after 2–3 s, then the next sleep (4–5 s) would pass the 3 s: it gives up
    assert 2.5 <= elapsed < 3 + 1 + 3, elapsed


def test_wait_for_an_operation_done_with_an_error_fails(state, tmp_path):
    _ops(state, _op("restore-3", "DONE", error="abandoned: the drill ended before the modelled end"))
    proc = _standin(["sql", "operations", "wait", "restore-3"], tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and out == ""
    assert "...failed.\nERROR: (gcloud.sql.operations.wait) [abandoned: the drill ended" in err


# ---- operations wait: gcloud's poll schedule, on a fake clock ---------------------------------------
class _Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(cloudsql.time, "monotonic", c.monotonic)
    monkeypatch.setattr(cloudsql.time, "sleep", c.sleep)
    monkeypatch.setattr(random, "random", lambda: 0.0)  # no jitter
    return c


def test_default_timeout_is_gclouds_300_s_and_the_wait_gives_up_at_the_last_poll_that_fits(state, clock,
                                                                                             monkeypatch, capsys):
    _no_postgres(monkeypatch)
    _ops(state, _op("restore-4", "RUNNING"))
    assert cloudsql.main(["sql", "operations", "wait", "restore-4"]) == 1
    # Retryer(exponential_sleep_multiplier=2, wait_ceiling_ms=20000), sleep_ms=2000, after a 1 s pre-start sleep;
    # polls at 0, 2, 6, 14, 30, 50, …, 290 s after the first; 290 + 20 > 300: gives up there
    assert clock.sleeps[:6] == [1, 2, 4, 8, 16, 20]
    assert clock.now == 1 + 290
    assert "is taking longer than expected" in capsys.readouterr().err


def test_unlimited_and_zero_wait_without_limit(state, clock, monkeypatch, capsys):
    _no_postgres(monkeypatch)
    _ops(state, _op("restore-5", "RUNNING"))
    real_sleep = clock.sleep

    def sleep_then_finish(s):
        real_sleep(s)
        if clock.now > 2000:  # far beyond 300 s and 600 s
            _ops(state, _op("restore-5", "DONE"))
    monkeypatch.setattr(cloudsql.time, "sleep", sleep_then_finish)
    for timeout in ("unlimited", "0"):
        clock.now = 0.0
        _ops(state, _op("restore-5", "RUNNING"))
        assert cloudsql.main(["sql", "operations", "wait", "restore-5", f"--timeout={timeout}"]) == 0, timeout
        assert clock.now > 2000
    assert capsys.readouterr().out.count("restore-5") == 2


def test_unknown_operation_is_the_apis_404_after_gclouds_2_s_of_retries(state, clock, monkeypatch, capsys):
    _no_postgres(monkeypatch)
    assert cloudsql.main(["sql", "operations", "wait", "no-such-op"]) == 1
    # ShouldRetryFunc raises the HttpError once time_passed_ms > 2000: without jitter the poll at exactly
    # 2000 ms retries once more
    assert clock.sleeps == [1, 2, 4]
    assert "HTTPError 404" in capsys.readouterr().err


def test_wait_accepts_gclouds_other_operation_references_and_prints_json(state, clock, monkeypatch, capsys):
    _no_postgres(monkeypatch)
    _ops(state, _op("restore-6", "DONE"))
    assert cloudsql.main(["sql", "operations", "wait", f"projects/{P}/operations/restore-6",
                          f"{cloudsql.API}/projects/{P}/operations/restore-6", "--format=json"]) == 0
    ops = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in ops] == ["restore-6", "restore-6"] and {o["status"] for o in ops} == {"DONE"}
    assert cloudsql.main(["sql", "operations", "wait", "projects/other-proj/operations/restore-6"]) == 1
    assert "HTTPError 403" in capsys.readouterr().err


# ---- the restore's message names a command that works ------------------------------------------------
def test_the_restores_longer_than_expected_message_names_the_ga_wait_command(state, monkeypatch, capsys):
    (state / f"{BACKUP}.dump").write_bytes(b"")
    monkeypatch.setenv("ROLLBACK_DRILL_CLOUDSQL_PENDING_S", "3600")  # the finisher never gets there
    monkeypatch.setenv("ROLLBACK_DRILL_GCLOUD_WAIT_S", "0.2")
    monkeypatch.setattr(cloudsql, "_pg_reachable", lambda ds: True)

    class _Finisher:
        pid = 0  # not a process: abandon_restores is not called here
    monkeypatch.setattr(cloudsql, "subprocess", SimpleNamespace(Popen=lambda *a, **k: _Finisher(),
                                                                DEVNULL=subprocess.DEVNULL))
    assert cloudsql.main(["sql", "backups", "restore", BACKUP, "--restore-instance=mastodon-db"]) == 1
    err = capsys.readouterr().err
    command = re.search(r"by running `([^`]*)`", err).group(1)
    name = json.loads((state / "operations.json").read_text())[0]["name"]
    assert command == f"gcloud sql operations wait --project {P} {name}"
    assert "beta" not in command

    _no_postgres(monkeypatch)
    ops = json.loads((state / "operations.json").read_text())
    ops[0].update(status="DONE", start="2024-05-01T10:00:02+00:00", end="2024-05-01T10:21:00+00:00")
    _ops(state, *ops)
    assert cloudsql.main(shlex.split(command)[1:]) == 0  # the stand-in runs what it told the operator to run
    if shutil.which("gcloud"):  # and the installed gcloud's parser accepts it: past the parser, no account
        config = state.parent.parent / "gcloud-config"  # a fresh config dir: no account, no network call
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
        env.update(CLOUDSDK_CONFIG=str(config), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
                   CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1", CLOUDSDK_CORE_DISABLE_FILE_LOGGING="1")
        real = subprocess.run(shlex.split(command), env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=90)
        assert real.returncode == 1 and "You do not currently have an active account selected" in real.stderr, \
            real.stderr


# ---- describe -----------------------------------------------------------------------------------------
def test_backups_describe_prints_the_backup_run_as_yaml_or_json(state, monkeypatch, capsys):
    import yaml
    _no_postgres(monkeypatch)
    assert cloudsql.main(["sql", "backups", "describe", BACKUP, "--instance=mastodon-db"]) == 0
    out = capsys.readouterr().out
    run = yaml.safe_load(out)
    assert run["id"] == BACKUP and run["kind"] == "sql#backupRun" and run["status"] == "SUCCESSFUL"
    assert run["windowStartTime"] == "2023-11-14T22:13:20.000Z"
    assert list(run) == sorted(run)
    assert cloudsql.main(["sql", "backups", "describe", BACKUP, "-i", "mastodon-db", "--format=json"]) == 0
    assert json.loads(capsys.readouterr().out) == run
    assert cloudsql.main(["sql", "backups", "describe", "42", "--instance=mastodon-db"]) == 1
    assert "HTTPError 404: The backup run does not exist." in capsys.readouterr().err
    assert cloudsql.main(["sql", "backups", "describe", BACKUP]) == 1  # gcloud parses the instance from None
    assert "value for field [instance] in collection [sql.instances] is required" in capsys.readouterr().err
    assert cloudsql.main(["sql", "backups", "describe", BACKUP, "--instance=p:mastodon-db"]) == 1
    assert "Instance names cannot contain the ':' character" in capsys.readouterr().err


@pytest.mark.parametrize("ops, state_expected", [
    ((), "RUNNABLE"),
    ((_op("r", "PENDING"),), "RUNNABLE"),
    ((_op("r", "RUNNING"),), "MAINTENANCE"),
    ((_op("r", "DONE"),), "RUNNABLE"),
])
def test_instances_describe_says_maintenance_while_a_restore_runs(state, monkeypatch, capsys, ops, state_expected):
    import yaml
    _no_postgres(monkeypatch)
    if ops:
        _ops(state, *ops)
    assert cloudsql.main(["sql", "instances", "describe", "mastodon-db"]) == 0
    instance = yaml.safe_load(capsys.readouterr().out)
    assert instance["name"] == "mastodon-db" and instance["state"] == state_expected
    assert instance["databaseVersion"] == "POSTGRES_15" and instance["kind"] == "sql#instance"
    assert cloudsql.main(["sql", "instances", "describe", "mastodon-db", "--format=value(state)"]) == 0
    assert capsys.readouterr().out == f"{state_expected}\n"


def test_instances_describe_of_another_instance_is_not_found(state, monkeypatch, capsys):
    _no_postgres(monkeypatch)
    assert cloudsql.main(["sql", "instances", "describe", "other-db"]) == 1
    assert "There was no instance found at projects/" in capsys.readouterr().err


def test_describe_formats_the_stand_in_cannot_print_are_refused(state, monkeypatch, capsys):
    _no_postgres(monkeypatch)
    assert cloudsql.main(["sql", "instances", "describe", "mastodon-db", "--format=table(name,state)"]) == 1
    assert "does not implement --format=table(name,state)" in capsys.readouterr().err


def test_a_wait_in_a_thread_sees_a_finisher_write_done(state, monkeypatch, capsys):
    """The operations file is replaced atomically: a waiter never reads half a file while it is written."""
    _no_postgres(monkeypatch)
    ds = cloudsql.Datastores("127.0.0.1")
    _ops(state, _op("restore-7", "RUNNING"))
    writer = threading.Timer(1.5, lambda: cloudsql._update_op(ds, "restore-7", status="DONE",
                                                              end="2024-05-01T10:21:00+00:00"))
    writer.start()
    try:
        assert cloudsql.main(["sql", "operations", "wait", "restore-7", "--timeout=30"]) == 0
    finally:
        writer.cancel()
    assert "restore-7" in capsys.readouterr().out
