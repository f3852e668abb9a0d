"""Per-scenario and per-session state of the Gherkin drills: the drill, the session journal, the result."""

from __future__ import annotations

import pytest

from rollback_drill.drill.engine import Drill
from rollback_drill.evidence.journal import Journal, new_run_id, reports_dir
from rollback_drill.evidence.report import finish_run


@pytest.fixture(scope="session")
def journal(cluster):
    holder: dict = {}
    yield holder
    if "journal" in holder:
        finish_run(holder["journal"])


@pytest.fixture
def state(request, cluster, journal):
    """Per-scenario state: the runbook in use and the drill once started."""
    st: dict = {"cluster": cluster}
    yield st
    drill: Drill | None = st.get("drill")
    if drill is None:
        return
    drill.close()
    if not st.get("recorded"):
        _record(st, journal, request.node.name)


def _add(st: dict, journal_holder: dict, res: dict) -> None:
    drill: Drill = st["drill"]
    if "journal" not in journal_holder:
        from rollback_drill.drill.runner import environment_info
        journal_holder["journal"] = Journal(reports_dir() / f"pytest-{new_run_id()}",
                                            environment_info(st["cluster"], st["runbook"], drill), drill.redactor)
    j = journal_holder["journal"]
    j.redactor.add(drill.redactor.values)  # every drill's secrets: the session journal holds them all
    j.add_scenario(res)


def _record(st: dict, journal_holder: dict, name: str) -> dict:
    drill: Drill = st["drill"]
    drill.stop_traffic()
    drill.end_emulation()
    res = drill.result(name)
    _add(st, journal_holder, res)
    st["recorded"] = True
    st["result"] = res
    return res


def _result(st: dict) -> dict:
    drill: Drill = st["drill"]
    if drill.level_no is not None and "recovered" not in drill.tl.marks and "recovery_waited" not in st:
        drill.wait_recovery()
        st["recovery_waited"] = True
    return drill.result("")
