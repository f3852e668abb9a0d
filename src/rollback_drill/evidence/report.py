"""Human-readable evidence from a journal: report.html (offline, inline SVG), summary.md, history.

Everything here is derived from journal.json, so the numbers a person reads are the journal's.
The history file (one JSON line per run) gives the trend of recovery time per level and flags a
regression: slower than the median of the recent runs by more than a configurable margin.
"""

from __future__ import annotations

import html
import json
import statistics
from pathlib import Path

from rollback_drill.evidence.journal import EvidenceError, Journal, atomic_write, load_journal, reports_dir

REGRESSION_MARGIN = 0.5  # 50 % slower than the recent median
HISTORY_WINDOW = 10


def _fmt(x, unit: str = "s") -> str:
    return "—" if x is None else f"{x:.1f}{unit}"


def _rows(journal: dict) -> list[dict]:
    out = []
    for s in journal["scenarios"]:
        lv, d = s.get("level"), s.get("durations", {})
        out.append({"name": s["name"], "trigger": (s.get("trigger") or {}).get("id", "—"),
                    "level": lv["number"] if lv else None,
                    "target": f"{lv['target_min_s']:.0f}-{lv['target_max_s']:.0f}s" if lv else "—",
                    "detect": d.get("detection_latency_s"), "recovery": d.get("recovery_s"),
                    "verdict": s.get("verdict", "unknown"),
                    "findings": len(s.get("findings", [])),
                    "profile": (s.get("profile") or {}).get("name", "—" if journal.get("upgraded") else "local")})
    return out


def _version_note(journal: dict) -> str:
    """For a journal of an older schema version (upgraded in memory by load_journal): which version,
    and what it measured differently; "" for the current version."""
    up = journal.get("upgraded")
    if not up:
        return ""
    return (f"Journal schema version {up['from_version']}, read by a version {up['to_version']} reader"
            + (": measured differently then: " + "; ".join(up["meaning_changed"]) if up.get("meaning_changed")
               else "") + ".")


def _not_in_version(journal: dict, s: dict) -> str:
    missing = s.get("not_in_version") or []
    if not missing:
        return ""
    return f"not in this version (journal schema {journal['upgraded']['from_version']}): {', '.join(missing)}"


def summary_md(journal: dict, regressions: list[str]) -> str:
    rows = _rows(journal)
    passed = sum(r["verdict"] == "passed" for r in rows)
    lines = [f"## rollback-drill {journal['run_id']}: {passed}/{len(rows)} passed"
             + ("" if journal.get("complete") else " (INCOMPLETE run)"), "",
             "| scenario | trigger | level | target | profile | detected | recovery | verdict | findings |",
             "|---|---|---|---|---|---|---|---|---|"]
    if _version_note(journal):
        lines[2:2] = [_version_note(journal), ""]
    for r in rows:
        lines.append(f"| {r['name']} | {r['trigger']} | {r['level'] or '—'} | {r['target']} | {r['profile']} "
                     f"| {_fmt(r['detect'])} | {_fmt(r['recovery'])} | {r['verdict']} | {r['findings']} |")
    for s in journal["scenarios"]:
        if _not_in_version(journal, s):
            lines.append(f"\n{s['name']}: {_not_in_version(journal, s)}")
        ph = s.get("phases") or {}
        if ph.get("phases"):
            lines.append(f"\n{s['name']}: where the time went (profile {(s.get('profile') or {}).get('name', 'local')}"
                         f"): " + "; ".join(f"{p['phase']} {p['s']:.1f}s" for p in ph["phases"])
                         + (f" — dominated by {ph['dominant']}" if ph.get("dominant") else ""))
        proj = (s.get("restore_projection") or {})
        if proj:
            lines.append(f"\n{proj['statement']}")
        hc = s.get("harness_changes") or {}
        if hc.get("changes"):
            lines.append(f"\n{s['name']}: the harness changed {'; '.join(hc['changes'])} — put back: "
                         f"{'; '.join(hc.get('reverted', [])) or 'nothing'}"
                         + (f" — **NOT put back: {'; '.join(hc['not_reverted'])}**" if hc.get("not_reverted") else ""))
    order = {"high": 0, "medium": 1, "low": 2}
    findings = {(order.get(f.get("severity"), 9), f["line"], f.get("severity", ""), f.get("kind", ""), f["command"],
                 f["problem"]) for s in journal["scenarios"] for f in s.get("findings", [])}
    if findings:
        lines += ["", "### Runbook findings (most severe first)"] + [
            f"- {f'**{sev}** ' if sev else ''}line {ln}{f' ({kind})' if kind else ''}: `{c}` — {p}"
            for _, ln, sev, kind, c, p in sorted(findings)]
    if regressions:
        lines += ["", "### Regressions"] + [f"- {r}" for r in regressions]
    return "\n".join(lines) + "\n"


def _chart(s: dict) -> str:
    """An inline SVG: 5xx ratio and p50/p95 latency per 0.5 s, probe state strips, markers."""
    tl = s["timeline"]
    series = tl["load_series"]
    if not series:
        return "<p>no samples</p>"
    t_max = max([x["t"] for x in series] + list(tl["marks"].values())
                + [e["t"] for e in tl.get("k8s_events", [])]) + 0.5
    w, h, left, top = 900, 260, 50, 10
    probes = sorted({p["probe"] for p in tl["probe_samples"]})
    plot_h = 140

    def x(t: float) -> float:
        return left + (w - left - 10) * t / t_max

    lat_max = max([x_["p95_ms"] or 0 for x_ in series] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 14 * len(probes) - 45}" '
             f'font-family="sans-serif" font-size="10">',
             f'<rect x="{left}" y="{top}" width="{w - left - 10}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    ratio_pts = " ".join(f"{x(p['t']):.1f},{top + plot_h * (1 - (p['failures'] / p['requests'] if p['requests'] else 0)):.1f}"
                         for p in series)
    parts.append(f'<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="{ratio_pts}"/>')
    for key, color in (("p50_ms", "#1f77b4"), ("p95_ms", "#9ecae1")):
        pts = " ".join(f"{x(p['t']):.1f},{top + plot_h * (1 - (p[key] or 0) / lat_max):.1f}" for p in series)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1" points="{pts}"/>')
    shown = [(n, t) for n, t in tl["marks"].items() if n in ("inject", "detect", "decide", "recovered")]
    for i, (name, t) in enumerate(shown):  # labels on separate rows: the marks are often close together
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#333" '
                     f'stroke-dasharray="3,2"/><text x="{x(t) + 2:.1f}" y="{top + 10 + 11 * i}">{name} {t:.1f}s</text>')
    y0 = top + plot_h + 8
    for i, pname in enumerate(probes):
        y = y0 + 14 * i
        parts.append(f'<text x="2" y="{y + 9}">{html.escape(pname)}</text>')
        for p in tl["probe_samples"]:
            if p["probe"] == pname:
                parts.append(f'<rect x="{x(p["t"]):.1f}" y="{y}" width="3" height="10" '
                             f'fill="{"#2ca02c" if p["ok"] else "#d62728"}"/>')
    # what the cluster did: pods ready / not ready, Ingress backend changes, the emulated load balancer
    ky = y0 + 14 * len(probes)
    parts.append(f'<text x="2" y="{ky + 9}">cluster</text>')
    marks = {"PodReady": "#2ca02c", "PodNotReady": "#ff7f0e", "BackendsChanged": "#9467bd"}
    for ev in tl.get("k8s_events", []):
        color = marks.get(ev["reason"])
        if color is None or not (0 <= ev["t"] <= t_max):
            continue
        label = html.escape(f"{ev['t']:.1f}s {ev['reason']} {ev['object']}: {ev['message']}")
        parts.append(f'<rect class="k8s-event" x="{x(ev["t"]):.1f}" y="{ky}" width="3" height="10" fill="{color}">'
                     f'<title>{label}</title></rect>')
        if ev["reason"] == "BackendsChanged":
            parts.append(f'<line x1="{x(ev["t"]):.1f}" x2="{x(ev["t"]):.1f}" y1="{top}" y2="{top + plot_h}" '
                         f'stroke="#9467bd" stroke-width="1"><title>{label}</title></line>')
    for em in tl.get("emulation_events", []):
        if em["what"].startswith("load balancer programmed") and 0 <= em["t"] <= t_max:
            label = html.escape(f"{em['t']:.1f}s {em['what']}: {em['detail']}")
            parts.append(f'<line class="lb" x1="{x(em["t"]):.1f}" x2="{x(em["t"]):.1f}" y1="{top}" '
                         f'y2="{top + plot_h}" stroke="#9467bd" stroke-dasharray="1,2"><title>{label}</title></line>')
    parts.append(f'<text x="{left}" y="{ky + 22}">red: failed-request ratio (0-100 %), '
                 f'blue: p50 / light blue: p95 latency (0-{lat_max:.0f} ms); time axis 0-{t_max:.0f} s</text>'
                 f'<text x="{left}" y="{ky + 34}">cluster row: green pod ready, orange pod not ready, purple Ingress '
                 f'backends changed (line; dotted: the emulated load balancer reprogrammed)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _trend_chart(level: str, xs: list[float], band: tuple[float, float] | None) -> str:
    """Recovery time per run for one level, with the runbook's target band."""
    w, h, left, top = 420, 120, 40, 8
    hi = max(xs + ([band[1]] if band else [])) * 1.1 or 1.0

    def y(v: float) -> float:
        return top + (h - top - 16) * (1 - v / hi)

    def x(i: int) -> float:
        return left + (w - left - 10) * (i + 0.5) / max(1, len(xs))
    parts = [f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="10"><text x="2" y="10">Level {html.escape(level)}</text>']
    if band:
        parts.append(f'<rect class="target" x="{left}" y="{y(band[1]):.1f}" width="{w - left - 10}" '
                     f'height="{y(band[0]) - y(band[1]):.1f}" fill="#eaf7ea"><title>target {band[0]:.0f}-{band[1]:.0f} s'
                     f'</title></rect><text x="{w - 100}" y="{y(band[1]) + 10:.1f}">target {band[0]:.0f}-{band[1]:.0f} s</text>')
    pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(xs))
    parts.append(f'<polyline fill="none" stroke="#1f77b4" points="{pts}"/>')
    for i, v in enumerate(xs):
        out = band is not None and v > band[1]
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{"#d62728" if out else "#1f77b4"}">'
                     f'<title>run {i + 1}: {v:.1f} s</title></circle>')
    parts.append(f'<text x="{left}" y="{h - 2}">runs (oldest left), recovery 0-{hi:.0f} s</text></svg>')
    return "".join(parts)


def report_html(journal: dict, regressions: list[str], trend: dict[str, list[float]]) -> str:
    e = html.escape
    rows = _rows(journal)
    body = [f"<h1>rollback-drill report {e(journal['run_id'])}</h1>",
            f"<p>{'complete' if journal.get('complete') else '<b>INCOMPLETE run</b>'} · started "
            f"{e(journal['started_at'])} · runbook {e(str(journal['environment'].get('runbook', {}).get('path')))} "
            f"(sha256 {e(str(journal['environment'].get('runbook', {}).get('sha256', ''))[:12])})</p>",
            *([f"<p class='schema-version'>{e(_version_note(journal))}</p>"] if _version_note(journal) else []),
            "<table id='summary'><tr><th>scenario</th><th>trigger</th><th>level</th><th>target</th><th>profile</th>"
            "<th>detected</th><th>recovery</th><th>verdict</th><th>findings</th></tr>"]
    for r in rows:
        cls = "pass" if r["verdict"] == "passed" else "fail"
        body.append(f"<tr class='{cls}'><td>{e(r['name'])}</td><td>{r['trigger']}</td><td>{r['level'] or '—'}</td>"
                    f"<td>{r['target']}</td><td class='profile'>{e(r['profile'])}</td>"
                    f"<td class='detect'>{_fmt(r['detect'])}</td>"
                    f"<td class='recovery'>{_fmt(r['recovery'])}</td><td>{r['verdict']}</td><td>{r['findings']}</td></tr>")
    body.append("</table>")
    if trend:
        bands = {str(sc["level"]["number"]): (sc["level"]["target_min_s"], sc["level"]["target_max_s"])
                 for sc in journal["scenarios"] if sc.get("level")}
        body.append("<h2>Recovery time per level across runs</h2>")
        for lv, xs in sorted(trend.items()):
            body.append(_trend_chart(str(lv), xs, bands.get(str(lv))))
            body.append(f"<p>Level {lv}: {', '.join(f'{v:.1f}s' for v in xs)}</p>")
    if regressions:
        body.append("<h2>Regressions</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in regressions) + "</ul>")
    for s in journal["scenarios"]:
        body.append(f"<h2>{e(s['name'])} — {e(s.get('verdict', 'unknown'))}</h2>")
        if "timeline" not in s:
            continue
        body.append(_chart(s))
        if _not_in_version(journal, s):
            body.append(f"<p class='not-in-version'><i>{e(_not_in_version(journal, s))}</i></p>")
        body += _fidelity(s)
        body += _why(s)
        if s.get("findings"):
            sid = f"s{journal['scenarios'].index(s)}"
            body.append("<h3>Runbook findings (most severe first)</h3><table class='findings'><tr><th>severity</th>"
                        "<th>class</th><th>where</th><th>command</th><th>problem</th><th>observed</th>"
                        "<th>what to change</th></tr>" + "".join(
                            f"<tr><td>{e(f.get('severity', ''))}</td><td>{e(f.get('kind', ''))}</td>"
                            f"<td><a href='#{sid}-line-{f['line']}'>{e(f.get('step') or '')} line {f['line']}</a></td>"
                            f"<td><code>{e(f['command'])}</code></td><td>{e(f['problem'])}</td>"
                            f"<td>{e(f.get('observed', ''))}</td><td>{e(f['action'])}</td></tr>"
                            for f in s["findings"]) + "</table>")
        if s.get("checklist"):
            body.append("<h3>実施後 checklist</h3><ul>" + "".join(
                f"<li>{'✔' if c['ok'] else '✘' if c['ok'] is False else '–'} {e(c['item'])}: {e(c['evidence'])}</li>"
                for c in s["checklist"]) + "</ul>")
        body.append("<h3>Command transcript</h3><table class='cmds'><tr><th>start</th><th>end</th><th>step</th>"
                    "<th>exit</th><th>command</th><th>output (redacted)</th></tr>")
        anchored: set = set()
        for c in s["timeline"]["commands"]:
            anchor = ""
            if c.get("line") not in anchored:
                anchored.add(c.get("line"))
                anchor = f"<a id='s{journal['scenarios'].index(s)}-line-{c.get('line')}'></a>"
            sub = f"<br><i>substituted: {e(c['substitution'])}</i>" if c.get("substitution") else ""
            note = f"<br><i>{e(c['note'])}</i>" if c.get("note") else ""
            ran = "" if c["ran"] == c["text"] else f"<br>ran: <code>{e(c['ran'])}</code>"
            rw = "".join(f"<li>{e(r)}</li>" for r in c.get("rewrites", []))
            rw = f"<ul class='rewrites'>{rw}</ul>" if rw else ""
            body.append(f"<tr id='cmd-{c.get('line', 0)}-{c['start']:.2f}'><td>{c['start']:.2f}</td><td>{c['end']:.2f}</td>"
                        f"<td>{anchor}{e(c.get('step') or '')}</td><td>{c['exit_code']}</td>"
                        f"<td><code>{e(c['text'])}</code>{ran}{sub}{note}{rw}</td>"
                        f"<td><pre>{e(c['output'][-600:])}</pre></td></tr>")
        body.append("</table>")
    if journal.get("mutations"):
        body += _mutations(journal["mutations"])
    style = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;vertical-align:top}"
             "tr.pass td{background:#eaf7ea}tr.fail td{background:#fbeaea}pre{margin:0;white-space:pre-wrap;"
             "max-width:420px}code{font-size:11px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>rollback-drill {e(journal['run_id'])}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _fidelity(s: dict) -> list[str]:
    """The profile next to the verdict, its parameters with sources, what the emulation changed and
    put back, where the recovery time went, and the restore projection."""
    e = html.escape
    prof, out = s.get("profile"), []
    if not prof:
        return out
    lv, rec = s.get("level") or {}, (s.get("durations") or {}).get("recovery_s")
    target = f"{lv['target_min_s']:.0f}-{lv['target_max_s']:.0f} s" if lv else "—"
    out.append(f"<h3>Fidelity: profile {e(prof['name'])} (v{prof['version']})</h3><p class='fidelity'>recovery "
               f"{_fmt(rec)} measured under profile <b>{e(prof['name'])}</b> against the target {target}: "
               f"{e(prof['description'])}</p>")
    out.append("<table class='profile'><tr><th>parameter</th><th>value</th><th>range</th><th>source</th></tr>" + "".join(
        f"<tr><td>{e(n)}</td><td>{p['value']:g} {e(p['unit'])}</td><td>"
        f"{'–'.join(f'{x:g}' for x in p['range']) if p.get('range') else '—'}</td><td>{e(p['source'])}</td></tr>"
        for n, p in prof["parameters"].items()) + "</table>")
    hc = s.get("harness_changes") or {}
    if hc.get("changes"):
        out.append("<h3>What the harness changed on the cluster (not the runbook's commands)</h3><p>changed: "
                   + "; ".join(e(c) for c in hc["changes"]) + "<br>put back: "
                   + ("; ".join(e(c) for c in hc.get("reverted", [])) or "<b>nothing</b>")
                   + ("<br><b>NOT put back: " + "; ".join(e(c) for c in hc["not_reverted"]) + "</b>"
                      if hc.get("not_reverted") else "") + "</p>")
    em = s.get("emulation") or {}
    if em.get("changes"):
        out.append("<p>The harness changed, for the emulation: " + "; ".join(e(c) for c in em["changes"])
                   + "<br>and put back: " + ("; ".join(e(c) for c in em.get("reverted", [])) or "<b>nothing yet</b>")
                   + "</p>")
    ph = s.get("phases") or {}
    if ph.get("phases"):
        out.append(f"<h3>Where the time went (decision to recovery: {ph['recovery_window_s']:.1f} s"
                   + (f", dominated by {e(ph['dominant'])}" if ph.get("dominant") else "") + ")</h3>"
                   "<table class='phases'><tr><th>phase</th><th>from</th><th>to</th><th>seconds</th><th>share</th>"
                   "<th>detail</th></tr>" + "".join(
                       f"<tr><td>{e(p['phase'])}</td><td>{p['from_s']:.1f}</td><td>{p['to_s']:.1f}</td>"
                       f"<td>{p['s']:.1f}</td><td>{_pct(p.get('share'))}</td>"
                       f"<td>{e(p.get('detail', ''))}</td></tr>" for p in ph["phases"]) + "</table>")
    proj = s.get("restore_projection")
    if proj:
        out.append(f"<p class='projection'>{e(proj['statement'])}</p>")
    return out


def _why(s: dict) -> list[str]:
    """Why recovery was (or was not) declared, and what users saw per kind of action."""
    e = html.escape
    out = []
    rec = s.get("recovery")
    if rec:
        out.append("<h3>Recovery conditions</h3><table class='conditions'><tr><th></th><th>condition</th>"
                   "<th>held</th><th>since</th><th>evidence / last reason</th></tr>")
        for c in rec["conditions"]:
            since = "—" if c["held_since"] is None else f"{c['held_since']:.1f}s"
            out.append(f"<tr class='{'pass' if c['holds'] else 'fail'}'><td>({c['key']})</td><td>{e(c['label'])}</td>"
                       f"<td>{'yes' if c['holds'] else 'NO'}</td><td>{since}</td><td>{e(c['detail'])}</td></tr>")
        out.append("</table>")
        if rec.get("settled"):
            out.append(f"<p class='settled'>Stopped waiting at {rec['evaluated_until']:.1f}s: {e(rec['settled'])}.</p>")
    actions = (s.get("outage") or {}).get("actions") or {}
    if actions:
        out.append("<h3>What users saw (from injection to recovery)</h3><table class='actions'><tr><th>action</th>"
                   "<th>done</th><th>failed</th></tr>" + "".join(
                       f"<tr><td>{e(k)}</td><td>{v['done']}</td><td>{v['failed']}</td></tr>" for k, v in actions.items())
                   + "</table>")
    return out


def _mutations(m: dict) -> list[str]:
    e = html.escape
    out = [f"<h2>Mutation testing of Level {m['level']} under {e(m['trigger'])}</h2>",
           f"<p>{m['killed']}/{m['mutants']} mutants killed (non-optional {m['non_optional_killed']}/"
           f"{m['non_optional']}); baseline {e(m['baseline']['verdict'])} in {m['baseline']['recovery_s']}s; "
           f"time limit per mutant {m['time_limit_s'] if m['time_limit_s'] is not None else 'as a normal drill'}s; "
           f"{m['wall_s']:.0f}s in all</p>",
           "<table class='mutations'><tr><th>mutant</th><th>step</th><th>outcome</th><th>killed by</th></tr>"]
    for o in m["outcomes"]:
        cls = "pass" if o["expected"] else "fail"
        out.append(f"<tr class='{cls}'><td>{e(o['mutant']['id'])}</td><td><code>{e(o['step'])}</code></td>"
                   f"<td>{o['outcome']}{' (optional step)' if o['mutant']['optional'] else ''}</td>"
                   f"<td>{e(o['killed_by'])}</td></tr>")
    out.append("</table>")
    if m.get("findings"):
        out.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in m["findings"]) + "</ul>")
    return out


def update_history(history: Path, journal: dict) -> tuple[list[str], dict[str, list[float]]]:
    """Append this run's recovery times per level; return regressions and the trend per level."""
    entries: list[dict] = []
    if history.exists():
        try:
            entries = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError) as e:
            raise EvidenceError(f"history file {history} is unreadable ({e}); move it aside to start a new "
                                f"history - it was left untouched") from None
    now: dict[str, list[float]] = {}
    for s in journal["scenarios"]:
        if s.get("level") and s.get("durations", {}).get("recovery_s") is not None:
            now.setdefault(str(s["level"]["number"]), []).append(s["durations"]["recovery_s"])
    regressions = []
    trend: dict[str, list[float]] = {}
    for lv, xs in now.items():
        past = [v for e in entries for v in e.get("recovery_s", {}).get(lv, [])][-HISTORY_WINDOW:]
        trend[lv] = past + xs
        if len(past) >= 3:
            med = statistics.median(past)
            worst = max(xs)
            if worst > med * (1 + REGRESSION_MARGIN):
                regressions.append(f"Level {lv}: recovery {worst:.1f}s is slower than the recent median "
                                   f"{med:.1f}s by more than {REGRESSION_MARGIN:.0%}")
    line = json.dumps({"run_id": journal["run_id"], "started_at": journal["started_at"], "recovery_s": now})
    with history.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    return regressions, trend


def write_reports(run_dir: Path, journal: dict, history: Path | None = None) -> None:
    regressions, trend = update_history(history, journal) if history else ([], {})
    atomic_write(run_dir / "report.html", report_html(journal, regressions, trend))
    atomic_write(run_dir / "summary.md", summary_md(journal, regressions))


def render_journal(path: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """report.html and summary.md from a journal file of any schema version this code reads (an older one
    is upgraded in memory; what it did not record is marked "not in this version"); the history is not
    touched. Written beside the journal unless `out_dir` is given."""
    journal = load_journal(path)
    out = out_dir or path.parent
    write_reports(out, journal)
    return out / "report.html", out / "summary.md"


def finish_run(journal: Journal, history: Path | None = None) -> None:
    """Mark the journal complete, then derive report.html, summary.md and the history line."""
    data = journal.finish()
    write_reports(journal.path.parent, data, history if history is not None else reports_dir() / "history.jsonl")
