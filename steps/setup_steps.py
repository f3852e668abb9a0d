"""Given steps that set up the drill: the cluster, the just-migrated state under load, profile, limits."""

from __future__ import annotations

from pytest_bdd import given, parsers

from rollback_drill.drill.engine import Drill, DrillConfig
from rollback_drill.sut.profile import load_profile


@given("the drill cluster is up")
def cluster_up(state):
    assert state["cluster"].status().ready, "the drill cluster is not ready: run 'rollback-drill cluster up'"


@given(parsers.parse("the automatic decider thinks for {n:d} seconds before deciding"))
def decider_thinks(state, n):
    state["decision_delay_s"] = float(n)


@given(parsers.parse('the fidelity profile "{name}"'))
def fidelity_profile(state, name):
    state["profile"] = load_profile(name)


@given(parsers.parse("the production database is {n:g} GB"))
def production_db_size(state, n):
    state["db_size_gb"] = float(n)


@given("the just-migrated Mastodon is serving under load")
def migrated_under_load(state):
    cfg = DrillConfig(decision_delay_s=state.get("decision_delay_s", 0.0), db_size_gb=state.get("db_size_gb"))
    if "profile" in state:
        cfg.profile = state["profile"]
    drill = Drill(state["cluster"], state["runbook"], cfg)
    state["drill"] = drill
    drill.prepare()
    drill.start_traffic()


@given(parsers.parse("Level {n:d} has already been carried out"))
def level_already_done(state, n):
    state["drill"].run_level_first(n)


@given(parsers.parse('the old Deployment "{name}" has been deleted since the migration'))
def old_deployment_deleted(state, name):
    state["drill"].env.kube.kubectl("delete", "deployment", name, "--wait=true")


@given(parsers.parse("the drill waits at most {n:d} seconds for recovery"))
def recovery_timeout(state, n):
    state["drill"].cfg.recovery_timeout_s = float(n)
