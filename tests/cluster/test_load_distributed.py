"""locust's distributed mode for load one process cannot give: a master here, worker processes
that run the users and send every request back; the drill's timeline sees each request and the
statistics are the same aggregate as with one process. Against the local Ingress only."""

import gevent

from rollback_drill.observe.load import Load, LoadConfig
from rollback_drill.observe.probes import Target
from rollback_drill.observe.timeline import Timeline


def test_two_workers_give_the_master_every_request_and_the_aggregate_stats(cluster):
    tl = Timeline()
    load = Load(Target(cluster.ingress_url, "no-such-host.invalid", "x", "x", own_ingress=True), tl,
                LoadConfig(users=10, rps_per_user=10.0, max_seconds=30, workers=2))
    load.start()
    procs = list(load.workers)
    assert len(procs) == 2 and all(w.poll() is None for w in procs)
    gevent.sleep(3)
    stats = load.stop()
    assert stats["workers"] == 2 and stats["requests"] > 100, stats
    assert sum(b.requests for b in tl.buckets.values()) == stats["requests"]  # each request reached the timeline
    assert all(w.returncode is not None for w in procs)  # no worker outlives the load
