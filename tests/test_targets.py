"""Refusals before anything runs (pure logic): each one line, exit 2 in the CLI."""

import pytest
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.drill.targets import Aim, Refused, check_aim, check_target


def test_a_context_not_allowed_is_refused_with_how_to_allow_it(monkeypatch):
    monkeypatch.delenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", raising=False)
    with pytest.raises(Refused, match="ROLLBACK_DRILL_ALLOWED_CONTEXTS=staging"):
        check_aim(Aim("existing", "staging"), 1, "error_ratio")
    with pytest.raises(Refused, match="needs --context"):
        check_aim(Aim("existing"), 1, "error_ratio")


def test_a_target_url_must_be_allowed_explicitly(monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "staging")
    monkeypatch.delenv("ROLLBACK_DRILL_ALLOWED_TARGETS", raising=False)
    with pytest.raises(Refused, match="ROLLBACK_DRILL_ALLOWED_TARGETS=https://staging.example"):
        check_aim(Aim("existing", "staging", target_url="https://staging.example/health"), 1, "probe")
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", "https://staging.example")
    assert check_target("https://staging.example/x") == "https://staging.example"
    with pytest.raises(Refused, match="expected http"):
        check_target("staging.example")


URL = "http://127.0.0.1:8088"


def test_an_existing_context_needs_an_allowed_target_the_config_faults_and_no_profile(monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "staging")
    with pytest.raises(Refused, match="needs --target-url"):
        check_aim(Aim("existing", "staging"), 1, "db")
    with pytest.raises(Refused, match="refusing --target-url http://127.0.0.1:8088"):
        check_aim(Aim("existing", "staging", target_url=URL), 1, "db")
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", URL)
    with pytest.raises(Refused, match="no fault switches"):
        check_aim(Aim("existing", "staging", sut="existing", target_url=URL), 1, "db")
    with pytest.raises(Refused, match="drop --profile"):
        check_aim(Aim("existing", "staging", target_url=URL, profile="gke"), 1, "db")
    check_aim(Aim("existing", "staging", sut="existing", target_url=URL, fault_style="config"), 1, "db")


def test_level_3_on_an_existing_context_needs_real_gcloud(monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "staging")
    with pytest.raises(Refused, match="--real-gcloud"):
        check_aim(Aim("existing", "staging"), 3, None)
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", URL)
    check_aim(Aim("existing", "staging", target_url=URL, real_gcloud=True), 3, None)


def test_a_traffic_criterion_needs_the_stub(monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "staging")
    with pytest.raises(Refused, match="traffic fault of the stub"):
        check_aim(Aim("existing", "staging", sut="existing"), 1, "error_ratio")
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", URL)
    check_aim(Aim("existing", "staging", sut="existing", target_url=URL, fault_style="config"), 1, "probe")
    with pytest.raises(Refused, match="needs --provider existing"):
        check_aim(Aim("local", sut="existing"), 1, "probe")


@pytest.mark.parametrize("args, env, says", [
    (["--provider", "existing", "--context", "staging"], {}, "refusing kubeconfig context 'staging'"),
    (["--provider", "existing", "--context", "staging", "--level", "3"], {"ROLLBACK_DRILL_ALLOWED_CONTEXTS": "staging"},
     "refusing Level 3"),
    (["--target-url", "https://staging.example"], {}, "--target-url is for a staging host"),
])
def test_the_cli_refuses_in_one_line_with_exit_2(monkeypatch, args, env, says):
    monkeypatch.delenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(main, ["run", *args])
    assert r.exit_code == 2, r.output
    assert says in r.output and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_config_faults_only_for_criteria_that_have_one():
    r = CliRunner().invoke(main, ["run", "--faults", "config", "--trigger", "C1"])
    assert r.exit_code == 2 and "--faults config cannot drill C1" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def test_level_3_on_an_existing_context_asks_for_the_instance_name_typed(tmp_path, monkeypatch):
    """With --real-gcloud the person types the Cloud SQL instance's name; a wrong name changes nothing (exit 2);
    the right one is taken, and the harness says plainly that such a drill is not built (exit 4)."""
    from click.testing import CliRunner

    from rollback_drill.cli import main
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text('{"current-context": "staging", "contexts": [{"name": "staging", "context": {}}]}')
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "staging")
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", URL)
    monkeypatch.setenv("ROLLBACK_DRILL_CONFIRM_STDIN", "1")
    args = ["run", "--level", "3", "--provider", "existing", "--context", "staging", "--target-url", URL, "--real-gcloud"]
    wrong = CliRunner().invoke(main, args, input="mastodon\n")
    assert wrong.exit_code == 2 and "is not the instance name mastodon-db: nothing was changed" in wrong.output
    right = CliRunner().invoke(main, args, input="mastodon-db\n")
    assert right.exit_code == 4 and "not built yet" in right.output and "Traceback" not in right.output
