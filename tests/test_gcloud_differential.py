"""Differential test: the Cloud SQL stand-in rejects exactly what the real gcloud's parser rejects.

Each case is an argument list given to the real `gcloud` (isolated config dir, prompts off, no
account, no network: argument errors come before any network call) and to the stand-in as a
subprocess (`python -m rollback_drill.sut.cloudsql`, a throw-away state dir holding one seeded
backup and one finished operation, no PostgreSQL). Both outcomes are put in one of four classes
and must agree:

- "usage":    the parser rejected the arguments (exit 2, `argument ...` / `unrecognized arguments`);
- "project":  the --project value is not a project ID (exit 1, gcloud's property validator);
- "instance-name": `sql backups describe --instance=P:I` (exit 1, api_lib/sql/validate.py
              ValidateInstanceName, which that command runs before it needs an account);
- "accepted": past the parser. Real gcloud: the missing account (exit 1). Stand-in: success, an
              API-style error (`HTTPError 4xx/5xx`, gcloud's "no instance found" / unset instance
              reference / "taking longer than expected", exit 1) or its explicit "does not implement".

Anything else is its own class ("other: ..."), so an unexpected answer fails instead of being
counted as agreement.

Recorded vs live. Each real gcloud start costs ~2 s of the suite's 2 cores (75 cases: 1-2 min), so
the suite compares the stand-in, still run live for CASES and FIX_CASES (~0.2 s a case), with
gcloud's answers as recorded in fixtures/gcloud/differential.json (per case its exit code, class and
first ERROR line; the gcloud version they came from). The suite also checks that the recording holds
exactly today's cases, that its answers still classify as recorded, and that the installed gcloud is
the recorded version (one `gcloud version`). The nightly runs every case through the real gcloud
again: it must answer as recorded, and the stand-in must agree with it. Re-record after changing a
case, the classification or gcloud:

    .venv/bin/python tests/test_gcloud_differential.py --record
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

GCLOUD = shutil.which("gcloud")
# Outside CI a machine without gcloud skips what needs it; in CI (CI=true) a missing gcloud fails it: a
# proof that did not run is not a proof that passed.
needs_gcloud = pytest.mark.skipif(GCLOUD is None and not os.environ.get("CI"),
                                  reason="the real gcloud CLI is not on PATH: nothing to compare with")

REPO = Path(__file__).resolve().parents[1]
RECORDING_NAME = "fixtures/gcloud/differential.json"
RECORDING = REPO / RECORDING_NAME
RECORD_COMMAND = ".venv/bin/python tests/test_gcloud_differential.py --record"
SEEDED_BACKUP = "1700000000000"  # exists in the stand-in's throw-away state; PostgreSQL does not
SEEDED_OP = "7b1d2c3e-0000-4000-8000-seeded0000op"  # a DONE operation in the same state

R = "sql backups restore".split()
L = "sql backups list".split()
O = "sql operations list".split()
W = "sql operations wait".split()
BD = "sql backups describe".split()
ID = "sql instances describe".split()

Case = tuple[str, list[str]]  # name, arguments after `gcloud`
Outcome = tuple[int, str]  # exit code, stderr

CASES: list[Case] = [
    # the runbook as written, and the executor's corrected restore
    ("runbook: backups list", L + ["--instance=mastodon-db", "--limit=5"]),
    ("runbook: restore as written", R + ["1234567890123", "--backup-instance=mastodon-db",
                                         "--project=YOUR_PROJECT_ID"]),
    ("runbook: operations list", O + ["--instance=mastodon-db", "--limit=1"]),
    ("corrected restore (DB unreachable)", R + [SEEDED_BACKUP, "--restore-instance=mastodon-db",
                                                "--backup-instance=mastodon-db"]),
    # variants gcloud accepts
    ("list: flag value form", L + ["--instance", "mastodon-db", "--limit", "5"]),
    ("list: no --instance", L),
    ("list: --instance=- (all)", L + ["--instance=-"]),
    ("list: --format=json", L + ["--instance=mastodon-db", "--format=json"]),
    ("list: --filter", L + ["--instance=mastodon-db", "--filter=status:SUCCESSFUL"]),
    ("list: drill's project", L + ["--instance=mastodon-db", "--project=rollback-drill"]),
    ("list: other valid project", L + ["--instance=mastodon-db", "--project=my-proj-123"]),
    ("list: domain-scoped project", L + ["--project=example.com:my-proj"]),
    ("list: --limit=unlimited --quiet", L + ["--limit=unlimited", "--quiet"]),
    ("restore: minimal (unknown backup)", R + ["1234567890123", "--restore-instance=mastodon-db"]),
    ("restore: flag value form --async", R + ["1234567890123", "--restore-instance", "mastodon-db",
                                              "--backup-instance", "mastodon-db", "--async"]),
    ("restore: --quiet --format=json", R + ["1234567890123", "--restore-instance=mastodon-db", "--quiet",
                                            "--format=json"]),
    ("restore: -q valid project", R + ["1234567890123", "--restore-instance=mastodon-db", "-q",
                                       "--project=rollback-drill"]),
    ("restore: new-instance flag --tier", R + ["1234567890123", "--restore-instance=mastodon-db",
                                               "--tier=db-f1-micro"]),
    ("operations: -i, json", O + ["-i", "mastodon-db", "--limit", "1", "--format=json"]),
    ("operations: --filter --page-size", O + ["--instance=mastodon-db", "--filter=operationType=RESTORE_VOLUME",
                                              "--page-size=10"]),
    # typical mistakes
    ("restore: no --restore-instance", R + ["123", "--backup-instance=mastodon-db", "--project=my-proj"]),
    ("restore: no ID", R + ["--restore-instance=mastodon-db"]),
    ("operations: no --instance", O + ["--limit=1"]),
    ("restore: --restore_instance", R + ["1234567890123", "--restore_instance=mastodon-db"]),
    ("restore: abbreviated flag", R + ["1234567890123", "--restore-inst=mastodon-db"]),
    ("restore: --async=true", R + ["1234567890123", "--restore-instance=mastodon-db", "--async=true"]),
    ("list: --instances", L + ["--instances=mastodon-db"]),
    ("list: unknown flag", L + ["--instance=mastodon-db", "--bogus"]),
    ("operations: --async", O + ["--instance=mastodon-db", "--async"]),
    ("restore: extra positional", R + ["1234567890123", "2", "--restore-instance=mastodon-db"]),
    ("list: positional instance", L + ["mastodon-db"]),
    ("list: --limit=abc", L + ["--instance=mastodon-db", "--limit=abc"]),
    ("list: --limit=0", L + ["--limit=0"]),
    ("list: --project without value", L + ["--instance=mastodon-db", "--project"]),
    ("list: uppercase project", L + ["--instance=mastodon-db", "--project=My-Project"]),
    ("list: project with spaces", L + ["--instance=mastodon-db", "--project", "my project"]),
    ("list: project with underscore", L + ["--project=my_proj"]),
    ("list: bad --limit before bad project", L + ["--limit=abc", "--project=BAD"]),
    ("list: bad project before bad --limit", L + ["--project=BAD", "--limit=abc"]),
    ("restore: bad project, no ID", R + ["--project=BAD"]),
]
# the forms a team writes when it fixes the restore step (issue 21 item 4)
FIX_CASES: list[Case] = [
    ("wait: as the restore's message says", W + ["--project", "rollback-drill", SEEDED_OP]),
    ("wait: --timeout=600", W + [SEEDED_OP, "--timeout=600"]),
    ("wait: several, --timeout unlimited", W + [SEEDED_OP, SEEDED_OP, "--timeout", "unlimited"]),
    ("wait: --timeout=0", W + ["--timeout=0", SEEDED_OP]),
    ("wait: operation URL", W + [f"https://sqladmin.googleapis.com/sql/v1beta4/projects/rollback-drill/"
                                 f"operations/{SEEDED_OP}"]),
    ("wait: --format=json -q", W + [SEEDED_OP, "--format=json", "-q"]),
    ("wait: unknown operation", W + ["no-such-operation"]),
    ("wait: no operation", W + ["--timeout=600"]),
    ("wait: --timeout=abc", W + [SEEDED_OP, "--timeout=abc"]),
    ("wait: --timeout=-1", W + [SEEDED_OP, "--timeout=-1"]),
    ("wait: --timeout=1.5", W + [SEEDED_OP, "--timeout=1.5"]),
    ("wait: --timeout without value", W + [SEEDED_OP, "--timeout"]),
    ("wait: --instance", W + [SEEDED_OP, "--instance=mastodon-db"]),
    ("wait: --async", W + [SEEDED_OP, "--async"]),
    ("wait: abbreviated --time", W + [SEEDED_OP, "--time=600"]),
    ("wait: -t", W + [SEEDED_OP, "-t", "600"]),
    ("wait: uppercase project", W + [SEEDED_OP, "--project=My-Project"]),
    ("backups describe: seeded", BD + [SEEDED_BACKUP, "--instance=mastodon-db"]),
    ("backups describe: -i, json", BD + [SEEDED_BACKUP, "-i", "mastodon-db", "--format=json"]),
    ("backups describe: no --instance", BD + [SEEDED_BACKUP]),
    ("backups describe: unknown ID", BD + ["1234567890123", "--instance=mastodon-db"]),
    ("backups describe: a backup NAME", BD + ["projects/rollback-drill/backups/abc"]),
    ("backups describe: no ID", BD + ["--instance=mastodon-db"]),
    ("backups describe: two IDs", BD + [SEEDED_BACKUP, "1234567890123", "--instance=mastodon-db"]),
    ("backups describe: --instance without value", BD + [SEEDED_BACKUP, "--instance"]),
    ("backups describe: --restore-instance", BD + [SEEDED_BACKUP, "--restore-instance=mastodon-db"]),
    ("backups describe: project:instance", BD + [SEEDED_BACKUP, "--instance=rollback-drill:mastodon-db"]),
    ("instances describe", ID + ["mastodon-db"]),
    ("instances describe: value(state)", ID + ["mastodon-db", "--format=value(state)"]),
    ("instances describe: json, project", ID + ["mastodon-db", "--format=json", "--project=rollback-drill"]),
    ("instances describe: other instance", ID + ["other-db"]),
    ("instances describe: no INSTANCE", ID),
    ("instances describe: --instance", ID + ["--instance=mastodon-db"]),
    ("instances describe: two instances", ID + ["mastodon-db", "other-db"]),
    ("instances describe: unknown flag", ID + ["mastodon-db", "--async"]),
]

_USAGE = re.compile(r"^ERROR: \(gcloud[.\w]*\) (argument [^\n]*: |unrecognized arguments:"
                    r"|the following arguments are required:)", re.M)
_PROJECT = re.compile(r"^ERROR: \(gcloud\) The project property must be set to a valid project ID", re.M)
_INSTANCE_NAME = re.compile(r"^ERROR: \(gcloud\.sql\.[.\w]+\) Instance names cannot contain the ':' character", re.M)
_STANDIN_PAST_PARSER = re.compile(r"HTTPError [45]\d\d|stand-in does not implement|There was no instance found at "
                                  r"|is required but was not provided|is taking longer than expected")


def _common(rc: int, err: str) -> str | None:
    if rc == 2 and _USAGE.search(err):
        return "usage"
    if rc == 1 and _PROJECT.search(err):
        return "project"
    if rc == 1 and _INSTANCE_NAME.search(err):
        return "instance-name"
    return None


def _other(rc: int, err: str) -> str:
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return f"other (exit {rc}: {last[:160]})"


def classify_gcloud(rc: int, err: str) -> str:
    cls = _common(rc, err)
    if cls:
        return cls
    if rc == 0 or (rc == 1 and "You do not currently have an active account selected" in err):
        return "accepted"
    return _other(rc, err)


def classify_standin(rc: int, err: str) -> str:
    cls = _common(rc, err)
    if cls:
        return cls
    if rc == 0 or (rc == 1 and _STANDIN_PAST_PARSER.search(err)):
        return "accepted"
    return _other(rc, err)


ALL_CASES: list[Case] = CASES + FIX_CASES
_TEMP_PATH = re.compile(rf"{re.escape(tempfile.gettempdir())}/|/tmp/|pytest-of-")


def _by_set() -> list[tuple[str, str, list[str]]]:
    """(set, name, arguments) of every case, in the recording's order."""
    return [("CASES", name, argv) for name, argv in CASES] + [("FIX_CASES", name, argv) for name, argv in FIX_CASES]


def _same_class(a: str, b: str) -> bool:
    """Equal, or both "other" (that class quotes the last stderr line, the recording keeps the first ERROR line)."""
    return a == b or a.startswith("other") and b.startswith("other")


def _isolated_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CLOUDSDK_", "GOOGLE_", "ROLLBACK_DRILL_", "BOTO"))}


def gcloud_env(config: Path) -> dict[str, str]:
    """The real gcloud on an empty config dir of its own: prompts off, no account, no network."""
    return dict(_isolated_env(), CLOUDSDK_CONFIG=str(config), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
                CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1", CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
                CLOUDSDK_CORE_DISABLE_FILE_LOGGING="1")


def standin_env(state: Path) -> dict[str, str]:
    """The stand-in on a throw-away state dir, seeded with one backup and one finished operation."""
    backups = state / "datastores" / "backups"
    backups.mkdir(parents=True)
    (backups / f"{SEEDED_BACKUP}.json").write_text(json.dumps({
        "id": SEEDED_BACKUP, "instance": "mastodon-db", "status": "SUCCESSFUL", "type": "ON_DEMAND",
        "description": "seeded by the differential test", "windowStartTime": "2023-11-14T22:13:20+00:00"}))
    (backups / f"{SEEDED_BACKUP}.dump").write_bytes(b"")
    (backups / "operations.json").write_text(json.dumps([{
        "name": SEEDED_OP, "type": "RESTORE_VOLUME", "insert": "2023-11-14T22:20:00+00:00",
        "start": "2023-11-14T22:20:05+00:00", "end": "2023-11-14T22:41:10+00:00", "status": "DONE"}]))
    return dict(_isolated_env(), ROLLBACK_DRILL_STATE=str(state), ROLLBACK_DRILL_PG_LISTEN="127.0.0.1")


def _run(argv: list[str], env: dict[str, str]) -> Outcome:
    p = subprocess.run(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)
    return p.returncode, p.stderr


def _run_cases(program: list[str], cases: list[Case], env: dict[str, str], workers: int) -> dict[str, Outcome]:
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        runs = [pool.submit(_run, [*program, *argv], env) for _, argv in cases]
        outcomes = {name: run.result() for (name, _), run in zip(cases, runs)}
    print(f"\n{len(cases)} cases through {' '.join(program[-2:])} in {time.monotonic() - started:.1f}s")
    return outcomes


def _gcloud() -> str:
    assert GCLOUD, "the real gcloud CLI is not on PATH: the recording cannot be made or checked"
    return GCLOUD


def run_gcloud(cases: list[Case], config: Path) -> dict[str, Outcome]:
    return _run_cases([_gcloud()], cases, gcloud_env(config), workers=4)


def run_standin(cases: list[Case], state: Path) -> dict[str, Outcome]:
    # 8 at a time: a few `operations wait` cases sleep 1-4 s as gcloud's poller would, the rest is ~0.2 s of CPU
    return _run_cases([sys.executable, "-m", "rollback_drill.sut.cloudsql"], cases, standin_env(state), workers=8)


def installed_gcloud_version(config: Path) -> str:
    """The "Google Cloud SDK" entry of `gcloud version --format=json` (one gcloud start, ~2 s)."""
    p = subprocess.run([_gcloud(), "version", "--format=json"], env=gcloud_env(config), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=90, check=True)
    return json.loads(p.stdout)["Google Cloud SDK"]


def first_error_line(err: str, config: Path) -> str:
    line = next((ln.strip() for ln in err.splitlines() if ln.startswith("ERROR:")), "")
    return line.replace(str(config), "$CLOUDSDK_CONFIG")


def record(path: Path = RECORDING) -> None:
    """Run every case through the installed gcloud and write what it answered to `path`."""
    with tempfile.TemporaryDirectory(prefix="gcloud-config-") as tmp:
        config = Path(tmp)
        version, outcomes = installed_gcloud_version(config), run_gcloud(ALL_CASES, config)
        cases = [{"set": cases_set, "name": name, "argv": argv, "exit": outcomes[name][0],
                  "class": classify_gcloud(*outcomes[name]), "error": first_error_line(outcomes[name][1], config)}
                 for cases_set, name, argv in _by_set()]
    leaks = [c["name"] for c in cases if _TEMP_PATH.search(c["error"])]
    if leaks:
        sys.exit(f"not written: a temporary path in the ERROR line of {leaks}")
    head = json.dumps({"gcloud_version": version, "gcloud_version_from": "gcloud version --format=json",
                       "recorded_on": datetime.now(timezone.utc).date().isoformat(),
                       "record_command": RECORD_COMMAND}, indent=2, ensure_ascii=False)
    rows = ",\n".join(f"    {json.dumps(c, ensure_ascii=False)}" for c in cases)
    path.write_text(f'{head[:-2]},\n  "cases": [\n{rows}\n  ]\n}}\n', encoding="utf-8")
    print(f"{path}: {len(cases)} cases, gcloud {version}")


@pytest.fixture(scope="module")
def recording() -> dict:
    return json.loads(RECORDING.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def recorded(recording: dict) -> dict[str, str]:
    """gcloud's recorded class of each case, by name."""
    return {c["name"]: c["class"] for c in recording["cases"]}


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_standin(ALL_CASES, tmp_path_factory.mktemp("standin-state"))


@pytest.fixture(scope="module")
def live_gcloud(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_gcloud(ALL_CASES, tmp_path_factory.mktemp("gcloud-config"))


def test_corpus_is_the_size_asked_for():
    # 40 for backups list|restore and operations list, 35 for wait and the two describes
    assert 25 <= len(CASES) <= 45 and 25 <= len(FIX_CASES) <= 45
    names = [name for name, _ in ALL_CASES]
    assert len(set(names)) == len(names)


def test_the_recording_holds_exactly_todays_cases(recording: dict):
    recorded = [(c["set"], c["name"], c["argv"]) for c in recording["cases"]]
    today = _by_set()
    assert recorded == today, (f"{RECORDING_NAME} is not of today's CASES and FIX_CASES (added: "
                               f"{[c[1] for c in today if c not in recorded]}, gone or changed: "
                               f"{[c[1] for c in recorded if c not in today]}): re-record with {RECORD_COMMAND}")


def test_the_recorded_answers_still_classify_as_recorded(recording: dict):
    """classify_gcloud on each recorded exit code and ERROR line gives the recorded class: a changed
    classification needs a new recording. And no ERROR line names a temporary path."""
    wrong = [f"- {c['name']}: recorded {c['class']}, now {classify_gcloud(c['exit'], c['error'])}"
             for c in recording["cases"] if not _same_class(c["class"], classify_gcloud(c["exit"], c["error"]))]
    assert not wrong, f"re-record with {RECORD_COMMAND}:\n" + "\n".join(wrong)
    assert not [c["error"] for c in recording["cases"] if _TEMP_PATH.search(c["error"])]


@needs_gcloud
def test_the_installed_gcloud_is_the_recorded_version(recording: dict, tmp_path: Path):
    installed = installed_gcloud_version(tmp_path)
    assert installed == recording["gcloud_version"], (
        f"gcloud {installed} is installed, {RECORDING_NAME} was recorded with gcloud "
        f"{recording['gcloud_version']}: re-record with {RECORD_COMMAND}")


def test_standin_rejects_exactly_what_gcloud_rejects(recorded: dict[str, str], standin: dict[str, Outcome]):
    _standin_agrees(CASES, recorded, standin)


def test_the_forms_a_team_writes_to_fix_the_restore_step_agree_with_gcloud(recorded: dict[str, str],
                                                                           standin: dict[str, Outcome]):
    _standin_agrees(FIX_CASES, recorded, standin)
    seen = {recorded.get(name) for name, _ in FIX_CASES}
    assert {"usage", "instance-name", "accepted"} <= seen, seen


def test_every_class_is_exercised(recorded: dict[str, str]):
    """The corpus must reach every class on the real gcloud, or the comparison proves little."""
    seen = {recorded.get(name) for name, _ in CASES}
    assert {"usage", "project", "accepted"} <= seen, seen


@pytest.mark.nightly
@needs_gcloud
def test_the_real_gcloud_answers_as_recorded_and_the_standin_agrees(recorded: dict[str, str],
                                                                   live_gcloud: dict[str, Outcome],
                                                                   standin: dict[str, Outcome]):
    """Every case through the real gcloud again (~2 s of CPU each)."""
    live = {name: classify_gcloud(*outcome) for name, outcome in live_gcloud.items()}
    changed = _disagreements(ALL_CASES, recorded, "recorded", live_gcloud, classify_gcloud, "real gcloud now")
    standin_off = _disagreements(ALL_CASES, live, "real gcloud", standin, classify_standin, "stand-in")
    problems = []
    if changed:
        problems.append(_report(changed, len(ALL_CASES), f" with {RECORDING_NAME} (re-record with "
                                                         f"{RECORD_COMMAND})"))
    if standin_off:
        problems.append(_report(standin_off, len(ALL_CASES), " between the live gcloud and the stand-in"))
    assert not problems, "\n".join(problems)


def _standin_agrees(cases: list[Case], recorded: Mapping[str, str], standin: Mapping[str, Outcome]) -> None:
    mismatches = _disagreements(cases, recorded, "real gcloud (recorded)", standin, classify_standin, "stand-in")
    assert not mismatches, _report(mismatches, len(cases), " with the recorded gcloud")


def _disagreements(cases: list[Case], expected: Mapping[str, str], expected_from: str,
                   outcomes: Mapping[str, Outcome], classify: Callable[[int, str], str], label: str) -> list[str]:
    mismatches = []
    for name, argv in cases:
        rc, err = outcomes[name]
        want, got = expected.get(name, f"not recorded (re-record with {RECORD_COMMAND})"), classify(rc, err)
        if want != got:
            mismatches.append(f"- {name}: gcloud {' '.join(argv)}\n    {expected_from}: {want}\n    {label}: {got}"
                              f"\n    {label} said: {err.strip()[:300]}")
    return mismatches


def _report(mismatches: list[str], total: int, where: str) -> str:
    return f"{len(mismatches)} of {total} cases disagree{where}:\n" + "\n".join(mismatches)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: {RECORD_COMMAND}\n  runs every case through the installed gcloud and writes "
                 f"{RECORDING_NAME}")
    record()
