"""Then steps on the evidence: the journal, the report, and the fidelity profile's share of the time."""

from __future__ import annotations

from pathlib import Path
import html

from pytest_bdd import parsers, then

from drill_state import _record, _result


@then("the drill's evidence is written")
def evidence_written(state, journal, request):
    res = _record(state, journal, request.node.name)
    for f in res["findings"]:  # CI shows them: JUnit properties of the scenario
        request.node.user_properties.append(("runbook finding", f"line {f['line']}: {f['command']}: {f['problem']}"))
    assert res["verdict"] == "passed", f"verdict {res['verdict']}"
    path: Path = journal["journal"].path
    text = path.read_text(encoding="utf-8")
    assert request.node.name in text
    for secret in state["drill"].env.secret_values():
        assert secret not in text, "a secret value reached the journal"


def _phase(res: dict, name: str) -> dict:
    found = [p for p in (res["phases"] or {}).get("phases", []) if p["phase"] == name]
    assert found, f"no phase {name!r} in {res['phases']}"
    return found[0]


@then("the recovery includes the profile's boot of mastodon-web and its Ingress propagation")
def recovery_includes_boot_and_propagation(state):
    drill = state["drill"]
    res = _result(state)
    prof = drill.cfg.profile
    assert res["durations"]["recovery_s"] is not None, res["recovery"]
    boot = _phase(res, "boot mastodon-web")
    pull = prof["image_pull"] if prof.image_absent_on_node else 0.0
    assert boot["s"] >= prof["web_boot"] + pull - 1.0, boot  # 1 s: API timestamps and watch latency
    prop = _phase(res, "propagation")
    assert prop["s"] >= prof["ingress_propagation"] - 1.0, prop
    assert res["durations"]["recovery_s"] >= max(boot["to_s"], prop["to_s"]) - 1.0
    seen = [e for e in drill.tl.emulation if e["what"] == "Ingress change seen"]
    assert seen, drill.tl.emulation


@then("the node pulled the old stack's image once, the first old pod waiting for it")
def node_pulled_once(state):
    drill = state["drill"]
    res = _result(state)
    pull = _phase(res, "image pull mastodon-web")  # the kubelet's own Pulling -> Successfully pulled
    assert pull["s"] >= drill.cfg.profile["image_pull"] - 1.0, pull
    assert [e["what"] for e in drill.tl.emulation].count("image pull started") == 1, drill.tl.emulation
    assert any("image registry of the harness" in c for c in res["harness_changes"]["changes"]), res["harness_changes"]


@then("users got 502s while the load balancer routed to backends not yet healthy, counted in the outage")
def users_got_502s_in_the_window(state):
    drill = state["drill"]
    res = _result(state)
    window = _phase(res, "load balancer 502s")
    assert window["s"] >= drill.cfg.profile["ingress_502_window"] - 1.0, window
    decide = drill.tl.marks["decide"]
    inside = drill.tl.window(decide + window["from_s"] + 1.0, decide + window["to_s"] - 1.0)
    assert sum(b.errors_5xx for b in inside) > 0.5 * sum(b.requests for b in inside), window  # what users got
    t0, t1 = res["outage"]["window"]
    assert t0 <= decide + window["from_s"] and res["outage"]["failed_requests"] >= sum(b.errors_5xx for b in inside)


@then("the old pods are Ready only after the load balancer's health check passed")
def neg_gate_delays_readiness(state):
    drill = state["drill"]
    res = _result(state)
    gate = _phase(res, "NEG health check mastodon-web")
    assert gate["s"] >= drill.cfg.profile["neg_ready"] - 1.0, gate
    boot = _phase(res, "boot mastodon-web")  # PodCreated -> PodReady: the gate is inside it
    assert boot["to_s"] >= gate["to_s"] - 1.0, (boot, gate)
    assert any("readiness gate" in c for c in res["harness_changes"]["changes"]), res["harness_changes"]


@then("the recovery includes the profile's modelled restore")
def recovery_includes_restore(state):
    drill = state["drill"]
    res = _result(state)
    restore = _phase(res, "restore")
    modelled = drill.cfg.profile.restore_s(drill.cfg.db_size_gb)
    assert restore["s"] >= modelled - 1.0, (restore, modelled)
    assert res["restore_projection"] and "30 GB" in res["restore_projection"]["statement"]


@then("the runbook's `gcloud sql operations list` showed the restore RUNNING")
def operations_list_running(state):
    drill = state["drill"]
    lists = [c for c in drill.tl.commands if c.level == 3 and c.text.startswith("gcloud sql operations list")]
    assert lists and "RUNNING" in lists[-1].output, [c.output for c in lists]
    restore = [c for c in drill.tl.commands if c.level == 3 and c.text.startswith("gcloud sql backups restore")]
    assert restore and "taking longer than expected" in restore[-1].output, [c.output for c in restore]


@then("the journal and the report show the profile with every parameter's source")
def profile_in_evidence(state, journal, request):
    res = _record(state, journal, request.node.name)
    prof = res["profile"]
    assert prof["name"] == "gke" and all(p["source"] for p in prof["parameters"].values())
    assert res["emulation"]["changes"] and res["emulation"]["reverted"]
    log = res["harness_changes"]  # the emulation's changes are in the drill's one change log, each put back
    assert set(res["emulation"]["changes"]) <= set(log["changes"]) and not log["not_reverted"], log
    from rollback_drill.evidence.report import report_html
    page = report_html({"run_id": "t", "started_at": "", "complete": True, "environment": {},
                        "scenarios": [res]}, [], {})
    assert "Fidelity: profile gke" in page and "Where the time went" in page
    for p in prof["parameters"].values():
        assert html.escape(p["source"]) in page


@then(parsers.parse("the verdict against the target of Level {n:d} is stated, whatever it is"))
def verdict_stated(state, n):
    res = state.get("result") or _result(state)
    assert res["verdict"] in ("passed", "target_missed"), res["verdict"]
    assert (res["durations"]["within_target"] is True) == (res["verdict"] == "passed")
