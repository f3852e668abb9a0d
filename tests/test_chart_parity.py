"""The stub chart behaves as the official chart where a rollback feels it (issue 21): every fact of
fixtures/chart-facts.yaml (mastodon/chart 6.9.3, with its source lines) holds in the stub chart's
rendering with its defaults, and the drill cluster's lab values change only what the table says."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from rollback_drill import PROJECT_ROOT
from rollback_drill.sut.deploy import LAB_VALUES

FACTS = yaml.safe_load((PROJECT_ROOT / "fixtures" / "chart-facts.yaml").read_text(encoding="utf-8"))
CHART = PROJECT_ROOT / "fixtures" / "helm" / "mastodon"
_MISSING = object()


def render(helm: str, *extra: str) -> list[dict]:
    out = subprocess.run([helm, "template", FACTS["release"], str(CHART), "--set", "image.tag=x", "--set",
                          "postgresql.auth.password=p", "--set", "redis.auth.password=r", "--set",
                          "mastodon.secrets.secret_key_base=k", *extra],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _at(obj, path: list):
    for key in path:
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return obj


def broken(fact: dict, docs: list[dict]) -> str:
    """'' when the fact holds in the rendered manifests, else what was rendered instead."""
    if "names" in fact:
        want = fact["names"]
        got = sorted(d["metadata"]["name"] for d in docs if d["kind"] == want["kind"])
        return "" if got == want["equals"] else f"{want['kind']} names {got}"
    c = fact["check"]
    objs = [d for d in docs if d["kind"] == c["kind"] and c.get("name", d["metadata"]["name"]) == d["metadata"]["name"]]
    if not objs:
        return f"no {c['kind']} {c.get('name', '')} rendered"
    for d in objs:
        v = _at(d, c["path"])
        ok = (v is _MISSING) if c.get("absent") else (v is not _MISSING) if c.get("present") else v == c["equals"]
        if not ok:
            return f"{d['kind']} {d['metadata']['name']}: {'/'.join(map(str, c['path']))} = " \
                   f"{'(absent)' if v is _MISSING else v!r}"
    return ""


@pytest.fixture(scope="module")
def helm() -> str:
    from rollback_drill.cluster.local import LocalCluster
    path = LocalCluster().bin_dir / "helm"
    assert path.exists(), f"{path} is missing: run 'bash scripts/setup.sh'"
    return str(path)


@pytest.mark.parametrize("fact", FACTS["facts"], ids=[f["id"] for f in FACTS["facts"]])
def test_the_stub_chart_renders_each_fact_of_the_official_chart(helm, fact):
    assert not broken(fact, render(helm)), f"{fact['id']} ({fact['source']}): {fact['fact']}; " \
                                           f"rendered: {broken(fact, render(helm))}"


def test_the_lab_values_change_only_what_the_table_says(helm):
    """With the drill cluster's values the facts marked `lab` (and only those) render differently."""
    lab = render(helm, "--set-json", f"lab={json.dumps(LAB_VALUES['lab'])}", "--set", "ingress.enabled=false")
    changed = {f["id"] for f in FACTS["facts"] if broken(f, lab)}
    # with the chart's Ingress off, its port check has nothing to look at
    assert changed == {f["id"] for f in FACTS["facts"] if "lab" in f} | {"ingress-ports-by-number"}


def test_every_fact_names_its_source_and_every_difference_says_why():
    for f in FACTS["facts"]:
        assert f["source"] and f["fact"] and ("check" in f or "names" in f), f["id"]
    for d in FACTS["differs"]:
        assert d["official"] and d["stub"] and d["why"], d["id"]
    ids = [f["id"] for f in FACTS["facts"] + FACTS["differs"]]
    assert len(ids) == len(set(ids))
