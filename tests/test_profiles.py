"""Pure logic of fidelity: profiles (every parameter with a value, unit and source; bad files get
one clear message), the restore fit and its projection, and the phase classification."""

import json

import pytest

from rollback_drill.sut import restore_model as R
from rollback_drill.sut.emulation import _backend_ports, unhealthy_rules
from rollback_drill.sut.profile import NOT_MODELLED, OPTIONAL, REQUIRED, ProfileError, available, load_profile


def test_the_shipped_profiles_name_every_parameter_with_its_source():
    assert {"local", "gke"} <= set(available())
    local, gke = load_profile("local"), load_profile("gke")
    assert not local.emulates and gke.emulates
    for p in (local, gke):
        assert set(p.params) == set(REQUIRED) | set(OPTIONAL)
        assert all(x.source and x.unit in ("s", "s/GB") for x in p.params.values())
    assert local.params["neg_ready"].source == NOT_MODELLED and local["ingress_502_window"] == 0  # absent: said
    assert "issues/44132" in gke.params["ingress_502_window"].source and gke["ingress_502_window"] <= \
        gke["ingress_propagation"]
    assert "load-balancer-neg-ready" in gke.params["neg_ready"].source and gke["neg_ready"] > 0
    assert gke.ingress_class == "gce" and gke.image_absent_on_node
    # published numbers are cited, unpublished ones say "assumed"
    assert "issues/44132" in gke.params["ingress_propagation"].source
    assert gke.params["web_boot"].source.startswith("assumed")
    d = gke.to_dict(size_gb=50)
    assert d["database_size_gb"] == 50 and d["modelled_restore_s"] == 240 + 12 * 50
    assert d["parameters"]["web_boot"] == {"value": 30.0, "unit": "s", "source": gke.params["web_boot"].source,
                                           "range": [15, 70]}


@pytest.mark.parametrize("edit, says", [
    (lambda d: d["parameters"].pop("web_boot"), "parameters.web_boot: missing"),
    (lambda d: d["parameters"]["web_boot"].update(value=-1), "a number >= 0"),
    (lambda d: d["parameters"]["web_boot"].update(unit="min"), ".unit: one of"),
    (lambda d: d["parameters"]["web_boot"].update(source=""), "say where the value comes from"),
    (lambda d: d["parameters"]["web_boot"].update(range=[40, 50]), ".range: [low, high] around the value"),
    (lambda d: d["parameters"].update(coffee={"value": 1}), "unknown parameters ['coffee']"),
    (lambda d: d["parameters"]["ingress_502_window"].update(value=90, range=[30, 90]),
     "ingress_502_window (90 s) is the last part of ingress_propagation (60 s)"),
])
def test_a_bad_profile_says_what_and_where(tmp_path, edit, says):
    import yaml
    data = yaml.safe_load(open(load_profile("gke").path).read())
    edit(data)
    f = tmp_path / "mine.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError) as e:
        load_profile(str(f))
    assert says in str(e.value) and str(f) in str(e.value)


def test_an_unknown_profile_lists_the_available_ones():
    with pytest.raises(ProfileError, match="available: .*gke.*local"):
        load_profile("aks")


def test_the_restore_fit_is_monotonic_and_the_projection_uses_it(tmp_path):
    points = [{"size_mb": 140, "dump_s": 4.0, "restore_s": 3.0}, {"size_mb": 420, "dump_s": 12.5, "restore_s": 8.7},
              {"size_mb": 1050, "dump_s": 30.0, "restore_s": 21.0}]
    f = R.fit(points)
    assert f["restore"]["per_gb_s"] > 0 and f["dump"]["per_gb_s"] > 0 and f["restore"]["r2"] > 0.99
    assert R.project(f, 10) < R.project(f, 100) < R.project(f, 1000)
    out = tmp_path / "restore.json"
    out.write_text(json.dumps({"points": points, "fit": f, "measured_at": "2026-11-29"}))
    p = R.projection(10.0, out)
    assert p["restore_s"] == round(f["restore"]["intercept_s"] + f["restore"]["per_gb_s"] * 10, 1)
    assert "3 sizes up to 1050 MB" in p["basis"] and "not Cloud SQL" in p["basis"] and "9.8x beyond" in p["basis"]
    assert p["range_s"] == [R.project_range(points, 10.0)[k] for k in ("low_s", "high_s")]
    assert R.projection(None, out) is None and R.projection(10.0, tmp_path / "absent.json") is None
    with pytest.raises(ValueError):
        R.fit(points[:1])


def test_the_projection_is_a_range_that_widens_with_the_extrapolation_and_bends_with_a_rising_cost():
    # per-GB cost rising with size, as measured here (9.9 -> 10.4 -> 13.4 s/GB): the power law lies above the line
    points = [{"size_mb": 134, "dump_s": 2.1, "restore_s": 1.29}, {"size_mb": 386, "dump_s": 6.1, "restore_s": 3.91},
              {"size_mb": 1079, "dump_s": 17.7, "restore_s": 14.1}]
    near, far = R.project_range(points, 1.5), R.project_range(points, 10.0)
    for r in (near, far):
        assert r["low_s"] <= r["line_s"] <= r["high_s"] and r["low_s"] <= r["power_s"] <= r["high_s"]
    assert far["power_s"] > far["line_s"]  # the rising cost bends the power law up
    assert far["high_s"] - far["low_s"] > near["high_s"] - near["low_s"]  # further out, less known
    assert far["extrapolation"] == round(10 * 1024 / 1079, 1)
    assert R.t975(3) == 3.182 and R.t975(11) == 2.228 and R.t975(100) == 1.96  # the table's next smaller entry
    two = R.project_range(points[:2], 10.0)  # no interval from two points: the line and the power law only
    assert {two["low_s"], two["high_s"]} == {two["line_s"], two["power_s"]}


def test_the_recorded_restore_benchmark_has_five_sizes_up_to_3_gb_and_a_range_not_beside_the_target():
    data = json.loads(R.RESULTS.read_text())
    sizes = [p["size_mb"] for p in data["points"]]
    assert len(sizes) >= 5 and max(sizes) >= 3000 and sizes == sorted(sizes)
    restores = [p["restore_s"] for p in data["points"]]
    assert restores == sorted(restores), "restore time must grow with size"
    assert data["fit"] == R.fit(data["points"]) and data["fit"]["restore"]["per_gb_s"] > 0
    assert " -j " in data["restore_command"] and "Cloud SQL" in data["not"]
    proj = data["projection"]
    assert proj["range_s"] == [R.project_range(data["points"], proj["size_gb"])[k] for k in ("low_s", "high_s")]
    assert "target" not in proj  # this machine's PostgreSQL is not set beside the level's target


def test_phases_name_boot_propagation_waits_and_the_dominant_one():
    from types import SimpleNamespace as NS

    from rollback_drill.drill.phases import phases
    cmd = lambda text, line, a, b: NS(text=text, line=line, start=a, end=b, step="Level 1", level=1)  # noqa: E731
    tl = NS(marks={"decide": 100.0, "recovered": 230.0}, now=lambda: 300.0, commands=[
        cmd("kubectl scale deployment mastodon-web --replicas=1", 38, 100.0, 100.3),
        cmd("kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s", 42, 100.4, 160.5),
        cmd("kubectl apply -f backup/ingress-mastodon.yaml", 45, 160.6, 161.0)],
        k8s_events=[{"t": 100.2, "object": "pod/mastodon-web-abc-1", "reason": "PodCreated", "message": ""},
                    {"t": 162.0, "object": "pod/mastodon-web-abc-1", "reason": "PodReady", "message": ""},
                    {"t": 161.0, "object": "ingress/mastodon", "reason": "BackendsChanged",
                     "message": "backends mastodon-streaming, mastodon-web"}],
        samples=[NS(t=150.0, served_by="mastodon-helm-web-x"), NS(t=221.5, served_by="mastodon-web-abc-1")],
        emulation=[{"t": 147.0, "what": "NEG health check started", "detail": "pod/mastodon-web-abc-1: containers ready"},
                   {"t": 162.0, "what": "NEG health check passed", "detail": "pod/mastodon-web-abc-1: Ready"},
                   {"t": 176.0, "what": "load balancer 502s", "detail": "changed paths ..."},
                   {"t": 221.0, "what": "load balancer programmed", "detail": "mastodon -> mastodon-web"}])
    drill = NS(tl=tl, level_no=1, env=None, target=NS(stack=("mastodon-web", "mastodon-streaming")))
    ph = phases(drill)
    by = {p["phase"]: p for p in ph["phases"]}
    assert by["boot mastodon-web"]["s"] == 61.8 and by["propagation"]["s"] == 60.5
    assert by["waits"]["s"] == 60.1 and by["commands"]["from_s"] == 0.0 and by["commands"]["to_s"] == 61.0
    assert ph["recovery_window_s"] == 130.0 and ph["dominant"] == "boot mastodon-web"
    assert by["propagation"]["share"] == round(60.5 / 130, 2)
    assert by["load balancer 502s"]["s"] == 45.0 and by["load balancer 502s"]["from_s"] == 76.0
    assert by["NEG health check mastodon-web"]["s"] == 15.0 and "NEG health check mastodon-streaming" not in by


def test_the_502_window_routes_only_the_changed_paths_to_the_unhealthy_backend():
    def rules(web: str, streaming: str, port_web: dict | None = None) -> list:
        return [{"host": "h", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": web, "port": port_web or {"number": 3000}}}},
            {"path": "/api/v1/streaming", "pathType": "Prefix",
             "backend": {"service": {"name": streaming, "port": {"number": 4000}}}}]}}]
    helm, back = rules("mastodon-helm-web", "mastodon-helm-streaming"), rules("mastodon-web", "mastodon-helm-streaming")
    bad = unhealthy_rules(helm, back, "lb-unhealthy")
    paths = bad[0]["http"]["paths"]
    assert paths[0]["backend"] == {"service": {"name": "lb-unhealthy", "port": {"number": 3000}}}
    assert paths[1]["backend"]["service"]["name"] == "mastodon-helm-streaming"  # unchanged path keeps serving
    assert back[0]["http"]["paths"][0]["backend"]["service"]["name"] == "mastodon-web"  # the input is not edited
    assert unhealthy_rules(helm, helm, "lb-unhealthy") is None  # nothing changes: no 502s
    assert _backend_ports(helm) == [("p3000", 3000), ("p4000", 4000)]
    assert _backend_ports(rules("a", "b", {"name": "http"})) == [("http", 20000), ("p4000", 4000)]
