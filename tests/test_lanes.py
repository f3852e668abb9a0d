"""Lanes (drills side by side): what two lanes would share, they must not — names, hosts, datastores,
ports, volumes, folders — and a bad lane is one line, exit 2, before anything is touched."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.drill.lanes import check_parallel
from rollback_drill.settings import LANE_ENV, MAX_LANES, LaneError, lane, lane_dir
from rollback_drill.sut.datastores import CONTAINERS, Datastores, containers
from rollback_drill.sut.deploy import LOCAL, lane_app


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_STATE", str(tmp_path))
    return tmp_path


def test_lane_zero_keeps_the_historic_names(state):
    assert lane_app(0) == LOCAL and containers(0) == CONTAINERS
    assert lane_dir("work", 0) == state / "work"
    ds = Datastores("10.0.0.1", 0)
    assert (ds.pg_port, ds.redis_port, ds.volume) == (15432, 16379, "rollback-drill-pgdata")


def test_no_two_lanes_share_a_name_a_host_a_port_a_volume_or_a_folder(state):
    lanes = range(MAX_LANES)
    apps = [lane_app(n) for n in lanes]
    stores = [Datastores("10.0.0.1", n) for n in lanes]
    for what in ([a.namespace for a in apps], [a.host for a in apps],
                 [s.pg_port for s in stores], [s.redis_port for s in stores], [s.volume for s in stores],
                 [s.root for s in stores], [s.backups for s in stores], [lane_dir("work", n) for n in lanes],
                 [c for s in stores for c, _, _ in s.containers.values()]):
        assert len(set(what)) == len(what), what
    # the release and Deployment names stay the runbook's: its commands name them, not the namespace
    assert {a.release for a in apps} == {LOCAL.release} and {a.helm_stack for a in apps} == {LOCAL.helm_stack}
    ports = {p for s in stores for p in (s.pg_port, s.redis_port)}
    assert len(ports) == 2 * MAX_LANES


def test_the_lane_comes_from_the_environment_and_is_checked_where_it_enters(monkeypatch):
    monkeypatch.setenv(LANE_ENV, "3")
    assert lane() == 3
    for bad in ("x", "-1", str(MAX_LANES), "1/../..", "0x1"):
        monkeypatch.setenv(LANE_ENV, bad)
        with pytest.raises(LaneError):
            lane()
    monkeypatch.setenv(LANE_ENV, "../../etc")
    r = CliRunner().invoke(main, ["runbook"])
    assert r.exit_code == 2
    assert r.output.strip() == (f"rollback-drill: {LANE_ENV}='../../etc' is not a lane: use a number from 0 to "
                                f"{MAX_LANES - 1} (or unset it for lane 0)")


def test_parallel_is_a_number_of_lanes():
    assert check_parallel(1) == "" and check_parallel(MAX_LANES) == ""
    assert "from 1 to" in check_parallel(0) and "from 1 to" in check_parallel(MAX_LANES + 1)
    r = CliRunner().invoke(main, ["mutate", "--level", "1", "--parallel", "0"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--parallel 0" in r.output
