"""report.html and summary.md are derived from the journal; history flags regressions."""

import re

import pytest

from rollback_drill.evidence.journal import EvidenceError
from rollback_drill.evidence.report import report_html, summary_md, update_history


def _journal(recovery: float, run_id: str = "r1") -> dict:
    return {"run_id": run_id, "started_at": "2026-11-29T00:00:00+00:00", "complete": True,
            "environment": {"runbook": {"path": "rb.md", "sha256": "abc"}},
            "scenarios": [{"name": "L1 under C1", "verdict": "passed", "trigger": {"id": "C1"},
                           "level": {"number": 1, "target_min_s": 60, "target_max_s": 120},
                           "durations": {"detection_latency_s": 1.5, "recovery_s": recovery},
                           "findings": [{"line": 3, "command": "false", "problem": "exit 1", "action": "went on"}],
                           "checklist": [{"item": "ok", "ok": True, "evidence": "x"}],
                           "timeline": {"marks": {"inject": 1.0, "detect": 2.5, "decide": 2.5, "recovered": 9.0},
                                        "load_series": [{"t": 0.0, "requests": 10, "failures": 1, "errors_5xx": 1,
                                                         "p50_ms": 10, "p95_ms": 20}],
                                        "probe_samples": [{"probe": "health", "t": 0.1, "ok": True}],
                                        "commands": [{"start": 2.6, "end": 2.9, "exit_code": 0, "text": "kubectl x", "ran": "kubectl x",
                                                      "output": "<ok>", "substitution": "", "note": ""}]}}]}


def test_html_numbers_equal_the_journal():
    j = _journal(6.34)
    page = report_html(j, [], {})
    assert re.search(r"<td class='recovery'>6\.3s</td>", page) and "<td class='detect'>1.5s</td>" in page
    assert "&lt;ok&gt;" in page and "<svg" in page and "http" not in page.split("<body>")[1].split("xmlns")[0]
    assert "| L1 under C1 | C1 | 1 | 60-120s | local | 1.5s | 6.3s | passed | 1 |" in summary_md(j, [])


def test_history_trend_and_regression(tmp_path):
    h = tmp_path / "history.jsonl"
    for i, r in enumerate([6.0, 6.5, 7.0]):
        regs, _ = update_history(h, _journal(r, f"r{i}"))
        assert regs == []
    regs, trend = update_history(h, _journal(20.0, "slow"))
    assert trend["1"] == [6.0, 6.5, 7.0, 20.0] and "slower than the recent median 6.5s" in regs[0]
    assert len(h.read_text().splitlines()) == 4


def test_unreadable_history_is_a_clear_error_and_left_untouched(tmp_path):
    h = tmp_path / "history.jsonl"
    h.write_text("{broken\n")
    with pytest.raises(EvidenceError, match="unreadable"):
        update_history(h, _journal(6.0))
    assert h.read_text() == "{broken\n"


def test_report_renders_offline_in_headless_chromium(tmp_path):
    """Debian's chromium, no network: the page must render from the file alone (no CDN)."""
    import shutil
    import subprocess
    import os
    browser = os.environ.get("ROLLBACK_DRILL_BROWSER", "chromium")  # GitHub's runner: its Google Chrome
    chromium = shutil.which(browser)
    assert chromium, f"{browser} is missing: run 'bash scripts/setup.sh'"
    j = _journal(6.34)
    j["scenarios"][0]["timeline"]["k8s_events"] = [
        {"t": 3.0, "object": "pod/mastodon-web-1", "reason": "PodReady", "message": "Ready condition true"},
        {"t": 3.5, "object": "ingress/mastodon", "reason": "BackendsChanged", "message": "backends mastodon-web"}]
    j["scenarios"][0]["timeline"]["load_series"] = [  # users' failures rise after the fault, fall after recovery
        {"t": float(t), "requests": 20, "failures": f, "errors_5xx": f, "p50_ms": 10, "p95_ms": 20}
        for t, f in enumerate([0, 0, 18, 19, 19, 18, 10, 2, 0, 0])]
    html_text = report_html(j, [], {"1": [6.0, 6.34, 130.0]})
    assert html_text.count('class="k8s-event"') == 2 and 'class="target"' in html_text
    assert "BackendsChanged ingress/mastodon" in html_text and "target 60-120 s" in html_text

    def red_pixels(html: str, name: str) -> int:
        """Pixels of the 5xx-ratio line's colour (#d62728) in a headless screenshot of the page."""
        from PIL import Image
        page, png = tmp_path / f"{name}.html", tmp_path / f"{name}.png"
        page.write_text(html, encoding="utf-8")
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
                            f"--screenshot={png}", page.as_uri()], capture_output=True, text=True, timeout=120)
        assert png.exists(), p.stderr[-500:]
        px = Image.open(png).convert("RGB").tobytes()
        return sum(1 for i in range(0, len(px), 3) if abs(px[i] - 0xd6) < 40 and px[i + 1] < 90 and px[i + 2] < 90)

    drawn = red_pixels(html_text, "report")
    assert drawn > 100, f"the 5xx line is not on the rendered page ({drawn} red pixels)"
    # the check fails where the line is not drawn: the same page without its polyline
    assert red_pixels(html_text.replace('stroke="#d62728"', 'stroke="none"'), "no-line") < drawn // 10
