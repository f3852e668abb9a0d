"""Property: any combination of surface forms over the project's runbook gives the same reading, or a
refusal (RunbookError) — never a different reading."""

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollback_drill.runbook.model import RunbookError, parse_runbook_text
from test_runbook_surface_forms import ORIGINAL, reading

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md").read_text(encoding="utf-8")
WANT = reading(ORIGINAL)


def _levels(f):
    def apply(t):
        for n, word in ((1, "1"), (2, "2"), (3, "3")):
            t = t.replace(f"### Level {n}: ", f"### {f(n)} ")
        return t
    return apply


def _console(t):
    def block(m):
        out = []
        cont = False
        for line in m.group(2).split("\n"):
            s = line.strip()
            if cont:
                out.append("> " + s)
            elif s and not s.startswith("#"):
                out.append("$ " + s)
            else:
                out.append(line)
            cont = bool(s) and s.endswith("\\") and not s.startswith("#")
            if s.startswith("kubectl scale") and not cont:
                out.append("deployment.apps/x scaled")
        return m.group(1) + "console\n" + "\n".join(out) + "\n" + m.group(3)
    return re.sub(r"(```|~~~)[^\n]*\n(.*?)\n(\1)", block, t, flags=re.S)


def _sections_order(t):
    parts = re.split(r"(?m)^(?=## )", t)
    head, rest = parts[0], parts[1:]
    return head + "".join(reversed(rest))


def _table(t):
    def sec(m):
        rows = re.findall(r"^- (?:\[ \] )?(.+)$", m.group(2), flags=re.M)
        return m.group(1) + "| 判断基準 |\n|---|\n" + "".join(f"| {r} |\n" for r in rows)
    return re.sub(r"(^#+ (?:Critical|High|Medium)[^\n]*\n)((?:- [^\n]*\n)+)", sec, t, flags=re.M)


def _level_list(t):
    """The levels section's level headings as the items of an ordered list, their content indented under them."""
    lines = t.split("\n")
    out, depth, n, fence = [], 0, 0, False
    for line in lines:
        if re.match(r"^\s*(```|~~~)", line):
            fence = not fence
        m = None if fence else re.match(r"^(#+) ", line)
        if m and "ロールバックレベル" in line:
            depth = len(m.group(1))
            out.append(line)
            continue
        elif m and depth and len(m.group(1)) <= depth:
            depth = 0
        elif m and depth:
            n += 1
            out.append(f"{n}. **{line[len(m.group(0)):]}**")
            continue
        out.append("   " + line if depth and n and line.strip() else line)
    return "\n".join(out)


FORMS = {
    "bullets": lambda t: re.sub(r"^- \[ \] ", "- ", t, flags=re.M),
    "stars": lambda t: re.sub(r"^- (\[ \] )?", r"* \1", t, flags=re.M),
    "table": _table,
    "tilde": lambda t: re.sub(r"^```", "~~~", t, flags=re.M),
    "info": lambda t: re.sub(r"^```bash$", "```shell", t, flags=re.M),
    "console": _console,
    "fullwidth": _levels(lambda n: f"レベル{chr(0xFF10 + n)}："),
    "roman": _levels(lambda n: f"Level {'I' * n}:"),
    "kanji": _levels(lambda n: f"レベル{'一二三'[n - 1]}　"),
    "tier": _levels(lambda n: f"Rollback tier {n} —"),
    "deeper": lambda t: re.sub(r"^(#{2,5}) ", r"#\1 ", t, flags=re.M),
    "label": lambda t: t.replace("**所要時間**: ", "目標時間："),
    "durations": lambda t: t.replace("5-10分", "5分から10分程度").replace("30分-2時間", "30分から2時間"),
    "remark": lambda t: t.replace("1-2分  \n", "1-2分（最速）  \n"),
    "deadline": lambda t: t.replace("（即座にロールバック）", "（ただちにロールバック）"),
    "comparators": lambda t: t.replace("5xx エラー率 > 50%", "5xx エラー率が50%超").replace(
        "レスポンスタイムが通常の3倍以上", "レスポンスタイム ≥ 通常の3倍"),
    "front_matter": lambda t: "---\ntitle: 手順書\nlevels: 5\n---\n" + t,
    "extra": lambda t: t.replace("## 緊急連絡先", "## 参考\n\n- 2023年は5xxが80%、所要時間45分\n\n## 緊急連絡先"),
    "order": _sections_order,
    "level_list": _level_list,
    "crlf_bom": lambda t: "\ufeff" + t.replace("\n", "\r\n"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(FORMS)), unique=True, min_size=1, max_size=7))
def test_any_combination_reads_the_same_or_is_refused(forms):
    text = TEXT
    for f in forms:
        if f == "crlf_bom":
            continue
        text = FORMS[f](text)
    if "crlf_bom" in forms:
        text = FORMS["crlf_bom"](text)
    try:
        rb = parse_runbook_text(text, "combined.md")
    except RunbookError:
        return  # refused: said, never misread
    got = reading(rb)
    for key in WANT:
        assert got[key] == WANT[key], f"{forms}: {key} differs"
