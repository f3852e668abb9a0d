"""`run --samples N`: pure logic (the draws, the drawn profile files, the quantiles) and its one-line refusals.
The drills themselves run in tests/cluster/test_samples_live.py."""

import math
import random

import yaml
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.drill.samples import draw, drawn_profile, nearest_rank, summary
from rollback_drill.sut.profile import load_profile


def test_the_same_seed_draws_the_same_profiles_within_every_range():
    gke = load_profile("gke")

    def draws(seed: int) -> list[dict]:
        rng = random.Random(seed)
        return [draw(gke, rng) for _ in range(3)]
    a = draws(7)
    assert a == draws(7) and a != draws(8) and len({tuple(x.items()) for x in a}) == 3
    for values in a:
        assert set(values) == {n for n, p in gke.params.items() if p.range}
        for name, v in values.items():
            lo, hi = gke.params[name].range
            assert lo <= v <= hi, (name, v)
        assert values["ingress_502_window"] <= values["ingress_propagation"]


def test_a_drawn_profile_is_a_profile_whose_sources_say_how_each_value_was_drawn(tmp_path):
    gke = load_profile("gke")
    values = draw(gke, random.Random(3))
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(drawn_profile(gke, values, 3, 2), allow_unicode=True))
    p = load_profile(str(f))
    assert p.name == "gke-sample-2" and p.ingress_class == "gce"
    for name, v in values.items():
        assert p[name] == v and p.params[name].source.startswith(f"drawn {v:g} uniformly from")
        assert "(seed 3, sample 2)" in p.params[name].source and gke.params[name].source in p.params[name].source
    assert {n: p[n] for n in p.params if n not in values} == {n: gke[n] for n in gke.params if n not in values}


def test_quantiles_are_measured_values_and_a_drill_without_recovery_ranks_last():
    assert nearest_rank([5, 1, 3, 2, 4], 0.5) == 3 and nearest_rank([5, 1, 3, 2, 4], 0.95) == 5
    assert nearest_rank([1.0], 0.95) == 1.0
    s = summary([{"recovery_s": 100.0, "verdict": "passed"}, {"recovery_s": 130.0, "verdict": "target_missed"},
                 {"recovery_s": None, "verdict": "not_recovered"}], 60, 120)
    assert s["p50_s"] == 130.0 and s["p95_s"] is None and s["within_target"] == 1 and s["n"] == 3
    assert s["verdicts"] == ["not_recovered", "passed", "target_missed"]
    assert math.isclose(summary([{"recovery_s": 90.0, "verdict": "passed"}] * 20, 60, 120)["p95_s"], 90.0)


def test_samples_are_refused_in_one_line_where_they_cannot_run():
    r = CliRunner().invoke(main, ["run", "--level", "1", "--trigger", "C1", "--samples", "3"])  # local: no ranges
    assert r.exit_code == 2 and r.output.strip().startswith("rollback-drill: --samples: the profile local gives "
                                                            "no parameter a range"), r.output
    r = CliRunner().invoke(main, ["run", "--level", "1", "--samples", "0"])
    assert r.exit_code == 2 and "--samples" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["run", "--level", "1", "--profile", "gke", "--samples", "2", "--parallel", "9"])
    assert r.exit_code == 2 and "--parallel 9" in r.output
    r = CliRunner().invoke(main, ["run", "--level", "7", "--profile", "gke", "--samples", "2"])
    assert r.exit_code == 2 and "level 7" in r.output.lower() and len(r.output.strip().splitlines()) == 1, r.output
