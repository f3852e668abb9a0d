"""The README's main job on the real cluster: `rollback-drill run` (Level 1 under C1) end to end,
and its report checked against its journal."""

import json
import re

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent first
from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.drill.runner import EXIT_FINDING, EXIT_OK, run_single
from rollback_drill.runbook.model import load_runbook


def test_default_drill_writes_journal_and_report_that_agree(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLBACK_DRILL_REPORTS", str(tmp_path))
    lines: list[str] = []
    code = run_single(1, "C1", str(__import__("rollback_drill").DEFAULT_RUNBOOK), None, echo=lines.append)
    assert code in (EXIT_OK, EXIT_FINDING), "\n".join(lines)
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["complete"] is True and journal["schema_version"] == 3
    s = journal["scenarios"][0]
    assert s["verdict"] == "passed" and s["level"]["target_max_s"] == 120
    printed = next(ln for ln in lines if ln.startswith("Level 1 under C1"))
    assert f"recovery time {s['durations']['recovery_s']:.1f}s (target 60-120s)" in printed
    page = (run_dir / "report.html").read_text()
    m = re.search(r"<td class='recovery'>([\d.]+)s</td>", page)
    assert m and float(m.group(1)) == round(s["durations"]["recovery_s"], 1)
    m = re.search(r"<td class='detect'>([\d.]+)s</td>", page)
    assert m and float(m.group(1)) == round(s["durations"]["detection_latency_s"], 1)
    assert "summary" in (run_dir / "summary.md").read_text() or "passed" in (run_dir / "summary.md").read_text()
    for secret in __import__("rollback_drill.sut.deploy", fromlist=["environment"]).environment(cluster).secret_values():
        for f in run_dir.iterdir():
            assert secret not in f.read_text(errors="replace"), f"secret value in {f.name}"
    # the journal keeps each command exactly as written; what ran and every rewrite sit beside it
    written = {c.text for lv in load_runbook(DEFAULT_RUNBOOK).levels for c in lv.commands} | \
              {c.text for st in load_runbook(DEFAULT_RUNBOOK).steps for c in st.commands}
    cmds = s["timeline"]["commands"]
    assert cmds and all(c["text"] in written for c in cmds), [c["text"] for c in cmds if c["text"] not in written]
    curl = next(c for c in cmds if c["text"].startswith("curl"))
    app = __import__("rollback_drill.sut.deploy", fromlist=["environment"]).environment(cluster).app  # this lane's
    assert curl["ran"] != curl["text"] and any(f"Host: {app.host}" in r for r in curl["rewrites"])
    scale = next(c for c in cmds if c["text"].startswith("kubectl scale"))
    assert scale["ran"] == scale["text"] and any(f"namespace '{app.namespace}'" in r for r in scale["rewrites"])
    # 手順1 ran at detection and 手順5 after verification; their outputs are in the journal
    steps = {c["step"] for c in cmds}
    assert any(st.endswith("(status)") for st in steps) and any(st.endswith("(monitor)") for st in steps), steps
    top = [c for c in cmds if c["text"] == "kubectl top pods"]
    assert top and top[-1]["output"].strip(), "kubectl top pods printed nothing"
