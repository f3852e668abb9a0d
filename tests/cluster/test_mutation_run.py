"""One small mutation run on the real cluster (the full runs are bench/mutation_bench.py and the
nightly workflow): the baseline Level 1 passes, and the mutant that aims the old web
Deployment's scale-up at the Helm one is killed, with the check that killed it named.
Nightly (68 s: two drills), to keep the suite under 12 min; the pure logic of mutants is in
tests/test_mutants.py."""

import json

import pytest
from click.testing import CliRunner

from rollback_drill.cli import main


@pytest.mark.nightly
def test_a_repointed_scale_up_is_killed_and_the_result_says_by_what(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_REPORTS", str(tmp_path))
    r = CliRunner().invoke(main, ["mutate", "--level", "1", "--trigger", "C1", "--only", "repoint:1", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["baseline"]["verdict"] == "passed"
    (o,) = result["outcomes"]
    assert o["mutant"]["id"] == "repoint:1"
    assert o["mutant"]["mutated"] == "kubectl scale deployment mastodon-helm-web --replicas=1"
    assert o["outcome"] == "killed" and o["verdict"] != "passed" and "(" in o["killed_by"], o
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert json.loads((run_dir / "mutations.json").read_text())["killed"] == 1
    assert "Mutation testing" in (run_dir / "report.html").read_text()
