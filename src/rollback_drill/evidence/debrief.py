"""The game-day debrief: one offline page a room can read together after a game day.

Why a page of its own: report.html answers "did the runbook recover in time"; a debrief answers
"what did the person do, when, and what did it cost users". So the operator's commands go on the
same time axis as users' failures and the cluster's events (report.py's chart, reused, with the
operator's row under it), next to the step mapping (done / changed / out of order / skipped /
extra, helped or hurt), the per-person figures against the decision deadline and the level's
target, and, when an automatic drill of the same level and trigger is given, who was faster at
which step and why.

Like every evidence module it works on the journal's dicts alone (a scenario as drill/result.py
writes it, with the `gameday` part drill/gameday.py's `evaluate` gives), and every string passes
through the Redactor before it is written: a command's output may hold a secret.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

from rollback_drill.evidence.journal import atomic_write
from rollback_drill.evidence.redaction import Redactor, known_secrets
from rollback_drill.evidence.report import _chart, _fmt, _why

CHART_W, CHART_LEFT, CHART_RIGHT = 900, 50, 10  # report._chart's plot area (tests check the two agree)
ROW_H = 16
STATUS_COLOURS = {"done": "#2ca02c", "changed": "#1f77b4", "out_of_order": "#ff7f0e", "skipped": "#d62728",
                  "not_needed": "#999999"}
EFFECT_COLOURS = {"helped": "#17becf", "hurt": "#d62728", "neutral": "#bbbbbb"}


def _finite(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isinf(x)) else x


def _t_max(tl: dict, records: list[dict]) -> float:
    """The last time anything happened: users' requests, marks, cluster events, the operator."""
    ts = [b["t"] for b in tl.get("load_series", [])] + list(tl.get("marks", {}).values()) \
        + [e["t"] for e in tl.get("k8s_events", [])] \
        + [t for r in records for t in (r.get("start"), _finite(r.get("end"))) if t is not None]
    return max(ts + [1.0])


def _x(t: float, t_max: float) -> float:
    return CHART_LEFT + (CHART_W - CHART_LEFT - CHART_RIGHT) * t / t_max


def _typed_colour(t: dict, steps: list[dict]) -> str:
    if t["role"] == "extra" or t["effect"] == "hurt":
        return EFFECT_COLOURS[t["effect"]]
    statuses = [steps[i]["status"] for i in t["steps"]]
    return STATUS_COLOURS["out_of_order" if "out_of_order" in statuses else statuses[0] if statuses else "done"]


def _operator_rows(s: dict, t_max: float, top: float, height: float) -> list[str]:
    """The operator's row (one bar per command, coloured by what it was) and the markers that belong to
    the person: alert, acknowledgement, decision and its deadline, and where an outage was attributed."""
    e = html.escape
    g = s["gameday"]
    fig, mapping = g["figures"], g["mapping"]
    marks = s["timeline"].get("marks", {})
    y = height + 6
    parts = [f'<text x="2" y="{y + 10}">operator</text>']
    for t in mapping["typed"]:
        end = _finite(t.get("end"))
        end = t_max if end is None else end
        x0, x1 = _x(t["start"], t_max), _x(end, t_max)
        label = e(f"{t['start']:.1f}s {t['text']} — {t['role']}"
                  + (f" of line(s) {', '.join(str(mapping['steps'][i]['line']) for i in t['steps'])}" if t["steps"] else "")
                  + f"; {t['effect']}: {t['why']}" + (f"; exit {t['exit_code']}" if t.get("exit_code") else ""))
        parts.append(f'<rect class="op-cmd {e(t["role"])} {e(t["effect"])}" x="{x0:.1f}" y="{y}" '
                     f'width="{max(2.0, x1 - x0):.1f}" height="12" fill="{_typed_colour(t, mapping["steps"])}">'
                     f'<title>{label}</title></rect>')
    t_alert = marks.get("alert", marks.get("detect"))
    lines = []
    if t_alert is not None:
        lines.append(("alert", t_alert, "#333", "3,2"))
        lines.append((f"decision deadline ({fig['allowed_s']:g} s)", t_alert + fig["allowed_s"], "#d62728", "6,3"))
        if fig.get("ack_s") is not None:
            lines.append(("ack", t_alert + fig["ack_s"], "#555", "1,2"))
        if fig.get("decision_s") is not None:
            lines.append(("decision", t_alert + fig["decision_s"], "#000", ""))
    for i, (name, t, colour, dash) in enumerate(lines):
        if 0 <= t <= t_max:
            x = _x(t, t_max)
            parts.append(f'<line class="person-mark" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{y + 14}" stroke="{colour}" '
                         f'stroke-dasharray="{dash}"><title>{e(name)} {t:.1f}s</title></line>'
                         f'<text x="{x + 2:.1f}" y="{y + 26 + 10 * (i % 3)}" fill="{colour}">{e(name)} {t:.1f}s</text>')
    for a in g.get("attributions", []):
        x = _x(a["t"], t_max)
        parts.append(f'<path class="attribution" d="M{x - 5:.1f},{top} L{x + 5:.1f},{top} L{x:.1f},{top + 9} Z" '
                     f'fill="#d62728"><title>{e(a["statement"])}</title></path>')
    parts.append(f'<text x="{CHART_LEFT}" y="{y + 62}">operator row: green done as written, blue changed, orange out of '
                 f'order, red hurt, teal helped (extra), grey neutral (extra); red triangle: start of an outage, '
                 f'attributed below</text>')
    return parts


def timeline_chart(s: dict) -> str:
    """report.py's chart of users' failures and cluster events, with the operator's row under it on
    the same time axis (the last time anything happened is set as a mark so both scale alike)."""
    tl = dict(s["timeline"])
    records = s["gameday"].get("records", [])
    end = _t_max(tl, records)
    tl["marks"] = {**tl.get("marks", {}), "debrief_end": end}
    tl.setdefault("probe_samples", [])
    tl.setdefault("load_series", [])
    base = _chart({**s, "timeline": tl}) if tl["load_series"] else ""
    m = re.match(r'<svg[^>]*\bheight="([\d.]+)"', base)
    base_h = float(m.group(1)) if m else 0.0
    t_max = end + 0.5
    rows = _operator_rows(s, t_max, 10 if base else 0, base_h)
    total_h = base_h + 80
    return (f'<svg class="debrief-timeline" xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{total_h:.0f}" '
            f'font-family="sans-serif" font-size="10">{base}{"".join(rows)}</svg>')


def _figures(s: dict) -> str:
    e = html.escape
    g = s["gameday"]
    f, lv = g["figures"], g["level"]
    late = f["decision_late"]
    rec = f.get("recovery_s")
    target = f"{lv['target_min_s']:.0f}-{lv['target_max_s']:.0f} s"
    fid = g["mapping"].get("fidelity")
    rows = [("time to detect (fault → alert)", _fmt(f.get("detect_s")), ""),
            ("time to acknowledge (alert → ack)", _fmt(f.get("ack_s")), ""),
            ("time to first action (alert → first command)", _fmt(f.get("first_action_s")), ""),
            ("decision (alert → first rollback command)", _fmt(f.get("decision_s")),
             ("<b>LATE</b> " if late else "on time ") + f"against {f['allowed_s']:g} s: {e(f['deadline_basis'])}"
             + (f"<br><code>{e(f['decision_command'])}</code>" if f.get("decision_command") else
                "<br>no command carried out a step of the level")),
            ("recovery (decision → recovered)", _fmt(rec),
             "not recovered" if rec is None else ("within" if f.get("within_target") else "<b>over</b>")
             + f" the level's target {target}"),
            ("users' outage (fault → recovered)", _fmt(f.get("outage_s")), ""),
            ("runbook fidelity", "—" if fid is None else f"{100 * fid:.0f}%",
             "share of the level's non-optional steps done as written, in order")]
    return ("<h2>Figures</h2><table class='figures'><tr><th>figure</th><th>value</th><th>against</th></tr>"
            + "".join(f"<tr class='{'fail' if (name.startswith('decision') and late) else ''}'><td>{e(name)}</td>"
                      f"<td class='value'>{v}</td><td>{against}</td></tr>" for name, v, against in rows) + "</table>")


def _mapping(s: dict) -> str:
    e = html.escape
    m = s["gameday"]["mapping"]
    t_alert = _alert(s)
    out = ["<h2>The runbook's steps</h2><table class='steps'><tr><th>line</th><th>runbook</th><th>status</th>"
           "<th>typed</th><th>at (from alert)</th><th>note</th></tr>"]
    for st in m["steps"]:
        when = _at(m, st["by"][0], t_alert) if st["by"] and t_alert is not None else ""
        opt = " (optional)" if st["optional"] else ""
        out.append(f"<tr class='step-{e(st['status'])}'><td>{st['line']}</td><td><code>{e(st['text'])}</code>{opt}</td>"
                   f"<td class='status' style='color:{STATUS_COLOURS.get(st['status'], '#000')}'>"
                   f"{e(st['status'].replace('_', ' '))}</td><td><code>{e(st['typed'])}</code></td><td>{when}</td>"
                   f"<td>{e(st['note'])}</td></tr>")
    out.append("</table>")
    out.append("<h2>What the operator typed</h2><table class='typed'><tr><th>at</th><th>command</th><th>exit</th>"
               "<th>was</th><th>effect</th><th>why</th></tr>")
    for t in m["typed"]:
        was = (f"step, line {', '.join(str(m['steps'][i]['line']) for i in t['steps'])}" if t["role"] == "step" else
               f"retry of line {', '.join(str(m['steps'][i]['line']) for i in t['steps'])}" if t["role"] == "retry" else
               "extra" + (f" ({e(t['runbook'])})" if t.get("runbook") else ""))
        at = "" if t_alert is None else f"{t['start'] - t_alert:.1f}s"
        out.append(f"<tr class='typed-{e(t['role'])} effect-{e(t['effect'])}'><td>{at}</td><td><code>{e(t['text'])}</code>"
                   f"</td><td>{'' if t.get('exit_code') is None else t['exit_code']}</td><td>{was}</td>"
                   f"<td style='color:{EFFECT_COLOURS[t['effect']] if t['effect'] != 'neutral' else '#555'}'>"
                   f"{e(t['effect'])}</td><td>{e(t['why'])}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _at(m: dict, index: int, t_alert: float) -> str:
    t = next((x for x in m["typed"] if x["index"] == index), None)
    return "" if t is None else f"{t['start'] - t_alert:.1f}s"


def _alert(s: dict) -> float | None:
    marks = s["timeline"].get("marks", {})
    return marks.get("alert", marks.get("detect"))


def _attributions(s: dict) -> str:
    a = s["gameday"].get("attributions", [])
    if not a:
        return "<h2>Outages</h2><p>no rise of users' failed requests after an operator command</p>"
    return "<h2>Outages</h2><ul class='attributions'>" + "".join(
        f"<li>{html.escape(x['statement'])}</li>" for x in a) + "</ul>"


# ---- against the automatic drill ---------------------------------------------------------------------
def automatic_scenario(journal: dict, level_no: int, trigger_id: str) -> dict | None:
    """The last scenario of `journal` that is an automatic drill (no game day part) of the level as
    written under the trigger and reached a verdict: what `gameday --against` compares the person with."""
    found = None
    for sc in journal.get("scenarios") or []:
        lv, tr = sc.get("level") or {}, sc.get("trigger") or {}
        plan = sc.get("plan") or {}
        if sc.get("gameday") or lv.get("number") != level_no or str(tr.get("id", "")).upper() != trigger_id.upper():
            continue
        if plan.get("commands") is not None or sc.get("verdict") in (None, "interrupted"):
            continue  # a mutant (its commands edited) or a drill that never finished is no fair comparison
        found = sc
    return found


def drills_in(journal: dict) -> str:
    """What a journal holds, for a refusal: 'Level 1 under C1 (passed), …'."""
    out = [f"Level {(sc.get('level') or {}).get('number')} under {(sc.get('trigger') or {}).get('id')} "
           f"({'game day' if sc.get('gameday') else sc.get('verdict')})" for sc in journal.get("scenarios") or []]
    return ", ".join(out) or "no scenario"


def _auto_steps(auto: dict, level: int) -> dict[int, tuple[float, float]]:
    """line -> (first start, last end) of the automatic drill's commands of the level."""
    out: dict[int, tuple[float, float]] = {}
    for c in auto.get("timeline", {}).get("commands", []):
        if c.get("level") == level:
            a, b = out.get(c["line"], (c["start"], c["end"]))
            out[c["line"]] = (min(a, c["start"]), max(b, c["end"]))
    return out


def compare(s: dict, auto: dict) -> list[dict]:
    """Per step of the level: when the person and the automatic drill finished it, counted from each
    one's own decision, who was faster and by how much, and why (the time before the step — reading,
    thinking, typing — or the command itself). First row: the decision; last row: the recovery."""
    g = s["gameday"]
    fig, level = g["figures"], g["level"]["number"]
    auto_d = auto.get("durations", {})
    t_auto0 = auto.get("timeline", {}).get("marks", {}).get("decide")
    t_alert = _alert(s)
    t_p0 = None if fig.get("decision_s") is None or t_alert is None else t_alert + fig["decision_s"]
    rows = [_row("decision (detection → first rollback command)", fig.get("decision_s"), auto_d.get("decision_s"), "")]
    autos = _auto_steps(auto, level)
    person = {st["line"]: st for st in fig.get("steps", [])}
    p_ends = [e for r in g.get("records", []) if r.get("kind", "command") == "command"
              for e in [_finite(r.get("end"))] if e is not None]
    a_ends = [c["end"] for c in auto.get("timeline", {}).get("commands", [])]
    for st in g["mapping"]["steps"]:
        p, a = person.get(st["line"]), autos.get(st["line"])
        p_done = None if p is None or t_p0 is None or _finite(p["end"]) is None else p["end"] - t_p0
        a_done = None if a is None or t_auto0 is None else a[1] - t_auto0
        rows.append(_row(f"line {st['line']}: {st['text']}", p_done, a_done, _why_step(p, a, p_ends, a_ends, st)))
    rows.append(_row("recovery (decision → recovered)", fig.get("recovery_s"), auto_d.get("recovery_s"), ""))
    return rows


def _row(what: str, person: float | None, auto: float | None, why: str) -> dict:
    faster, by = "—", None
    if person is not None and auto is not None:
        faster, by = ("person" if person < auto else "automatic drill" if auto < person else "same"), abs(person - auto)
    return {"what": what, "person_s": None if person is None else round(person, 3),
            "automatic_s": None if auto is None else round(auto, 3), "faster": faster,
            "by_s": None if by is None else round(by, 3), "why": why}


def _gap(start: float, ends: list[float]) -> float:
    """Time since the previous command ended: what was spent reading, thinking and typing."""
    before = [e for e in ends if e <= start]
    return start - max(before) if before else 0.0


def _why_step(p: dict | None, a: tuple[float, float] | None, p_ends: list[float], a_ends: list[float],
              st: dict) -> str:
    if p is None:
        return (f"the person {'did not need it' if st['status'] == 'not_needed' else 'skipped it'}" if a else
                "neither ran it")
    if a is None:
        return "the automatic drill did not run it"
    p_end = _finite(p["end"])
    if p_end is None:
        return "the person's command did not end"
    think_p, think_a = _gap(p["start"], p_ends), _gap(a[0], a_ends)
    run_p, run_a = p_end - p["start"], a[1] - a[0]
    order = " (done out of the runbook's order)" if st["status"] == "out_of_order" else ""
    think = f"time before the step {think_p:.1f} s (person) vs {think_a:.1f} s (automatic)"
    run = f"the command itself {run_p:.1f} s vs {run_a:.1f} s"
    if abs(think_p - think_a) >= abs(run_p - run_a):
        return f"mostly the {think}; {run}{order}"
    return f"mostly {run} (person vs automatic); the {think}{order}"


def _comparison(s: dict, auto: dict | None) -> str:
    if not auto:
        return ""
    e = html.escape
    rows = compare(s, auto)
    return ("<h2>Against the automatic drill of the same level and trigger</h2>"
            f"<p>automatic drill: {e(str(auto.get('name', '')))} — {e(str(auto.get('verdict', '')))}; times per step are "
            "counted from each one's own decision</p><table class='compare'><tr><th>step</th><th>person</th>"
            "<th>automatic</th><th>faster</th><th>by</th><th>why</th></tr>" + "".join(
                f"<tr><td><code>{e(r['what'])}</code></td><td>{_fmt(r['person_s'])}</td><td>{_fmt(r['automatic_s'])}</td>"
                f"<td class='faster'>{e(r['faster'])}</td><td>{_fmt(r['by_s'])}</td><td>{e(r['why'])}</td></tr>"
                for r in rows) + "</table>")


def _transcript(s: dict) -> str:
    e = html.escape
    recs = s["gameday"].get("records", [])
    rows = "".join(f"<tr><td>{r['start']:.2f}</td><td>{'' if _finite(r.get('end')) is None else format(r['end'], '.2f')}"
                   f"</td><td>{'' if r.get('exit_code') is None else r['exit_code']}</td><td><code>{e(r['text'])}</code></td>"
                   f"<td><pre>{e((r.get('output') or '')[-600:])}</pre></td></tr>" for r in recs)
    g = s["gameday"]
    replay = "".join(f" <span class='files'>{e(what)}: <code>{e(g[key])}</code></span>"
                     for key, what in (("recording", "replay it with asciinema play"), ("transcript", "the whole text"))
                     if g.get(key))
    return (f"<h2>The operator's shell (redacted)</h2><p>{replay}</p><table class='transcript'><tr><th>start</th>"
            f"<th>end</th><th>exit</th><th>command</th><th>output</th></tr>{rows}</table>")


# ---- the page ------------------------------------------------------------------------------------------
def debrief_html(scenario: dict, automatic: dict | None = None, redactor: Redactor | None = None) -> str:
    """The debrief of one game-day scenario (with its `gameday` part), optionally against an automatic
    drill's scenario of the same level and trigger. Everything is redacted before it is rendered (and
    the page once more after): escaping first would hide a secret's quotes from the redactor."""
    r = redactor or Redactor(known_secrets())
    s = r.redact_obj(scenario)
    auto = r.redact_obj(automatic) if automatic else None
    e = html.escape
    g = s["gameday"]
    trig = s.get("trigger") or {}
    body = [f"<h1>Game-day debrief: {e(s.get('name', ''))}</h1>",
            f"<p>operator <b>{e(g.get('operator') or 'unnamed')}</b> · Level {g['level']['number']} "
            f"({e(g['level']['title'])}) · trigger {e(str(trig.get('id', '—')))} {e(str(trig.get('severity', '')))} · "
            f"verdict <b>{e(str(s.get('verdict', 'unknown')))}</b> · immediate allowance "
            f"{g['immediate_allowance_s']:g} s (the team's acknowledgement target, for 即座)</p>",
            timeline_chart(s), _attributions(s), _figures(s), _mapping(s), *_why(s), _comparison(s, auto),
            _transcript(s)]
    style = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;vertical-align:top}"
             "tr.fail td{background:#fbeaea}tr.pass td{background:#eaf7ea}"
             "tr.step-skipped td,tr.effect-hurt td{background:#fbeaea}pre{margin:0;white-space:pre-wrap;max-width:420px}"
             "code{font-size:11px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>game-day debrief {e(s.get('name', ''))}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    return r.redact(page)


def write_debrief(run_dir: Path, scenario: dict, automatic: dict | None = None,
                  redactor: Redactor | None = None) -> Path:
    """debrief.html beside the journal and report."""
    path = run_dir / "debrief.html"
    atomic_write(path, debrief_html(scenario, automatic, redactor))
    return path
