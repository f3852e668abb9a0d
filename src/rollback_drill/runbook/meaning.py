"""What the runbook's words mean: the one lexicon the reader uses, in Japanese and English.

Teams reword, translate, reorder and extend their runbook. Nothing here depends on one exact
phrase or on a position: each function takes a heading, a label, a criterion or a checklist item
and says what it means (a section, a severity and its deadline, a target range, a metric with
its comparator and threshold, a check). What it cannot read it returns as None / "unread", and
the reader says so with the line and how to declare it in the sidecar.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


def norm(text: str) -> str:
    """NFKC (full-width digits, colons and percent become ASCII), lower case, one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


# ---- sections --------------------------------------------------------------------------------
SECTION_WORDS: dict[str, tuple[str, ...]] = {
    "criteria": ("判断基準", "ロールバックする条件", "ロールバックの条件", "トリガー", "rollback criteria", "criteria",
                 "when to roll back", "triggers"),
    "levels": ("ロールバックレベル", "ロールバックの段階", "レベル", "rollback levels", "levels"),
    "procedure": ("詳細手順", "手順の詳細", "手順", "detailed procedure", "procedure", "step by step"),
    "checklist": ("チェックリスト", "確認項目", "checklist", "check list"),
    "troubleshooting": ("トラブルシューティング", "troubleshooting"),
}


def section_kind(title: str) -> str | None:
    t = norm(title)
    for kind in ("criteria", "checklist", "troubleshooting", "procedure", "levels"):  # most specific first
        if any(w in t for w in SECTION_WORDS[kind]):
            return kind
    return None


# ---- severities and decision deadlines --------------------------------------------------------
SEVERITIES = ("Critical", "High", "Medium")
_SEVERITY_WORDS = {"Critical": ("critical", "緊急", "致命"), "High": ("high", "高"), "Medium": ("medium", "中")}

_UNIT_S = {"秒": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
           "分": 60, "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
           "時間": 3600, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600}
_UNIT = r"(秒|分|時間|seconds?|secs?|sec|s|minutes?|mins?|min|m|hours?|hrs?|hr|h)"


def severity(title: str) -> str | None:
    t = norm(title)
    for sev in SEVERITIES:
        if t.startswith(sev.lower()):
            return sev
    for sev, words in _SEVERITY_WORDS.items():
        if any(t.startswith(w) for w in words[1:]):
            return sev
    return None


def _seconds(value: str, unit: str) -> float:
    return float(value) * _UNIT_S[unit.lower()]


_IMMEDIATE = ("即座", "即時", "直ちに", "ただちに", "すぐに", "今すぐ", "immediate", "at once", "right away",
              "without delay", "straight away", "no delay")


def deadline(title: str) -> float | None:
    """'即座にロールバック' / 'ただちに' / 'immediately' / 'at once' -> 0; '15分以内' / 'within 15 minutes' /
    'within half an hour' -> 900 / 1800; else None."""
    t = words_to_numbers(norm(title))
    if any(w in t for w in _IMMEDIATE):
        return 0.0
    m = re.search(rf"(\d+(?:\.\d+)?)\s*{_UNIT}(?![a-z])", t)
    return _seconds(m.group(1), m.group(2)) if m else None


# ---- targets -------------------------------------------------------------------------------------
_DASH = r"[-‐‑–—〜~～]|to|から|until|or"


_NUMBERS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
            "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90, "a hundred": 100,
            "one hundred": 100}


def words_to_numbers(t: str) -> str:
    """Numbers and durations said in words, as digits (on normalised text): 'half an hour' -> '30 min',
    'an hour and a half' / '1時間半' -> '90 min', 'three' -> '3', 'twice' -> '2 times'."""
    t = re.sub(r"\b(?:an?|one) hour and a half\b|\bone and a half hours?\b|\b1\.5 hours?\b", "90 min", t)
    t = re.sub(r"(\d+)\s*時間半", lambda m: f"{int(m.group(1)) * 60 + 30}分", t)
    t = re.sub(r"\bhalf an hour\b|\ba half hour\b|\bhalf-hour\b|\bhalf hour\b", "30 min", t)
    t = re.sub(r"半時間", "30分", t)
    t = re.sub(r"\b(?:an|a) (hour|minute|second)\b", r"1 \1", t)
    t = re.sub(r"\btwice\b", "2 times", t)
    t = re.sub(r"\bdouble\b", "2 times", t)
    t = re.sub(r"\btriple\b", "3 times", t)
    for w, n in sorted(_NUMBERS.items(), key=lambda kv: -len(kv[0])):
        t = re.sub(rf"\b{w}\b", str(n), t)
    return t


_APPROX = r"(?:約|およそ|おおよそ|about|approx\.?|approximately|around|roughly|~|大体|だいたい)"
_SUFFIX = r"(?:程度|ほど|くらい|ぐらい|前後|かかる|かかります|を見込む|を目安|目安|roughly|or so|in total)"


def target_range(text: str) -> tuple[float, float] | None:
    """'1-2分' (60, 120) · '30分-2時間' · '1–2 min' · '30 min – 2 h' · '2分以内' / 'up to 2 h' (0, max) ·
    '90秒' (90, 90) · 'about 5 minutes' · 'half an hour to 2 hours' · 'between 5 and 10 minutes' ·
    '30分から2時間' · '1-2分（最速）' (a parenthetical is a remark). None when it is not a duration."""
    t = norm(text)
    t = re.sub(r"\s*[(（][^()（）]*[)）]\s*", " ", t).strip()  # a remark in parentheses
    t = t.rstrip("。.、,;")
    t = words_to_numbers(t)
    t = re.sub(rf"^{_APPROX}\s*", "", t)
    t = re.sub(rf"\s*{_SUFFIX}$", "", t).strip()
    t = re.sub(r"^(?:between|from)\s+(.+?)\s+(?:and|to)\s+(.+)$", r"\1 - \2", t)
    t = re.sub(rf"\s*{_APPROX}\s*", " ", t).strip()
    m = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{_UNIT}?\s*(?:{_DASH})\s*(\d+(?:\.\d+)?)\s*{_UNIT}", t)
    if m:
        lo, lo_u, hi, hi_u = m.groups()
        lo_s, hi_s = _seconds(lo, lo_u or hi_u), _seconds(hi, hi_u)
        return (lo_s, hi_s) if lo_s <= hi_s else None
    m = re.fullmatch(rf"(?:up to|within|at most|no more than|under|less than|≤|<=)\s*(\d+(?:\.\d+)?)\s*{_UNIT}", t) or \
        re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{_UNIT}\s*(?:以内|まで|以下|or less|at most|max|maximum)", t)
    if m:
        return 0.0, _seconds(m.group(1), m.group(2))
    m = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{_UNIT}", t)
    if m:
        s = _seconds(m.group(1), m.group(2))
        return s, s
    return None


# ---- level and step headings, labels ------------------------------------------------------------
_KANJI = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10}
_LEVEL_WORD = r"(?:rollback\s+)?(?:level|tier|lv\.?|レベル|ティア|段階)"
_LEVEL_NUM = r"(\d+|[ivx]+(?![a-z])|[一二三四五六七八九十]+|one|two|three|four|five|six|seven|eight|nine|ten)"
_LEVEL_SEP = r"\s*[:：.\-–—)）|]?\s*"


def _numeral(word: str) -> int | None:
    w = word.lower()
    if w.isdigit():
        return int(w)
    if w in _ROMAN:
        return _ROMAN[w]
    if w in _NUMBERS:
        return _NUMBERS[w]
    if all(c in _KANJI for c in w):
        if w == "十":
            return 10
        if w.startswith("十"):
            return 10 + _KANJI[w[1]] if len(w) == 2 else None
        if len(w) == 1:
            return _KANJI[w]
        if len(w) == 2 and w[1] == "十":
            return _KANJI[w[0]] * 10
        if len(w) == 3 and w[1] == "十":
            return _KANJI[w[0]] * 10 + _KANJI[w[2]]
    return None


def level_heading(title: str) -> tuple[int, str] | None:
    """'Level 1: …', '## レベル１：…', 'Rollback tier 1 — …', 'Lv.2 …', 'Level II', 'レベル一', '第1段階' ->
    (number, the title as written after the number)."""
    t = norm(title)
    m = re.match(rf"^(?:ロールバック)?{_LEVEL_WORD}\s*{_LEVEL_NUM}{_LEVEL_SEP}(.*)$", t) or \
        re.match(rf"^第\s*{_LEVEL_NUM}\s*(?:段階|レベル){_LEVEL_SEP}(.*)$", t)
    if not m:
        return None
    number = _numeral(m.group(1))
    if number is None or number < 1:
        return None
    # keep the title as written (not normalised) after the number
    raw = re.sub(r"^\s*(?:ロールバック)?(?:rollback\s+)?(?:level|tier|lv\.?|レベル|ティア|段階|第)\s*"
                 r"(?:[0-9０-９]+|[IVXivx]+(?![A-Za-z])|[一二三四五六七八九十]+|one|two|three|four|five|six|seven|"
                 r"eight|nine|ten)\s*(?:段階|レベル)?\s*[:：.\-–—)）|]?\s*", "", title, flags=re.I)
    return number, raw.strip() or m.group(2)


def step_heading(title: str) -> tuple[int, str] | None:
    m = re.match(r"^(?:手順|ステップ|step)\s*(\d+)\s*[:：.\-–—]?\s*(.*)$", norm(title))
    if not m:
        return None
    raw = re.sub(r"^\s*(?:手順|ステップ|step)\s*\d+\s*[:：.\-–—]?\s*", "", title, flags=re.I)
    return int(m.group(1)), raw.strip()


LABELS = {"target": ("所要時間", "目安時間", "目標時間", "想定時間", "想定所要時間", "目標所要時間", "所要", "目安", "目標",
                    "duration", "target", "time", "expected time", "estimated time", "expected duration",
                    "target time", "time needed", "time required", "time to complete", "takes", "eta"),
          "when": ("適用場面", "使う場面", "適用条件", "いつ使う", "when", "use when", "applies when"),
          "warning": ("警告", "注意", "warning", "caution", "note")}


def label_kind(label: str) -> str | None:
    t = norm(label)
    for kind, words in LABELS.items():
        if t in words:
            return kind
    return None


# ---- what a level restores ------------------------------------------------------------------
_FULL_WORDS = ("削除", "復元", "消", "旧環境", "完全", "uninstall", "remove", "delete", "restore", "old environment",
               "completely", "entire")
_ONLY_WORDS = ("のみ", "だけ", "only", "just")
_DB_WORDS = ("データベース", "db", "database")


def level_restores(title: str) -> tuple[bool, bool]:
    """(the whole pre-migration state, the database) a level brings back, from its title:
    "Ingress only" levels bring traffic back to the old stack; a level that removes the release or
    restores the old environment brings back the whole pre-migration state; a database level
    that too, and the schema."""
    t = norm(title)
    database = any(re.search(rf"(?<![a-z]){w}(?![a-z])", t) for w in _DB_WORDS)
    full = database or (any(w in t for w in _FULL_WORDS) and not any(w in t for w in _ONLY_WORDS))
    return full, database


# ---- step meanings ----------------------------------------------------------------------------
STEP_MEANINGS = {"status": ("状況", "確認する", "situation", "status", "assess", "check the"),
                 "verify": ("動作確認", "確認", "verify", "verification", "check that", "validate"),
                 "monitor": ("モニタリング", "監視", "monitor", "watch")}


# ---- criteria ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Meaning:
    kind: str  # error_ratio | latency_factor | db | login | security | jobs | media | streaming | feature |
    #            performance | unread
    comparator: str = ""  # ">" | ">="
    threshold: float | None = None  # 0.5 for 50 %, 3.0 for 3x
    unit: str = ""  # "ratio" | "x baseline"
    why: str = ""  # for an unread criterion: what in the sentence the drill does not measure


_PCT = r"(\d+(?:\.\d+)?)\s*%"
_ERR = r"(?:5xx|5\d\d|エラー率|エラーの割合|エラー応答|error rate|error ratio|errors|server errors?)"
# Comparators, said in symbols or words; where several are near the number, the nearest one counts.
_COMPARATORS: tuple[tuple[str, str], ...] = (
    (">=", ">="), ("≥", ">="), ("⩾", ">="), ("=>", ">="), ("以上", ">="), ("at least", ">="), ("no less than", ">="),
    ("or more", ">="), ("or higher", ">="), ("or above", ">="), ("and above", ">="), ("not less than", ">="),
    ("<=", "<="), ("≤", "<="), ("⩽", "<="), ("以下", "<="), ("at most", "<="), ("no more than", "<="),
    ("not more than", "<="), ("or less", "<="), ("or lower", "<="), ("or below", "<="),
    ("未満", "<"), ("を下回", "<"), ("below", "<"), ("under", "<"), ("less than", "<"), ("fewer than", "<"),
    ("lower than", "<"), ("<", "<"),
    ("を超え", ">"), ("超え", ">"), ("超", ">"), ("を上回", ">"), ("より多", ">"), ("より大き", ">"), ("above", ">"),
    ("over", ">"), ("exceeds", ">"), ("exceeding", ">"), ("exceed", ">"), ("more than", ">"), ("greater than", ">"),
    ("higher than", ">"), ("beyond", ">"), ("過半数", ">"), (">", ">"),
)
_COMP_RE = re.compile("|".join(re.escape(w) if not w[0].isalpha() else rf"(?<![a-z]){re.escape(w)}(?![a-z])"
                               for w, _ in sorted(_COMPARATORS, key=lambda x: -len(x[0]))))
_COMP = dict(_COMPARATORS)


def comparator_near(t: str, start: int, end: int) -> str:
    """The comparator said nearest to the number at t[start:end] ('' when none is said)."""
    best, dist = "", 10 ** 9
    for m in _COMP_RE.finditer(t):
        d = start - m.end() if m.end() <= start else (m.start() - end if m.start() >= end else 0)
        if d < dist:
            best, dist = _COMP[m.group(0)], d
    return best


def _prose_numbers(t: str) -> str:
    """'10 percent' / '10パーセント' -> '10%'; 'half (of the requests)' / '半数' / '過半数' -> '50%'."""
    t = words_to_numbers(t)
    t = re.sub(r"(\d+(?:\.\d+)?)\s*(?:percent|per cent|pct|パーセント)(?![a-z])", r"\1%", t)
    t = re.sub(r"(\d+(?:\.\d+)?)\s*割(?!合)", lambda m: f"{float(m.group(1)) * 10:g}%", t)
    t = t.replace("過半数", "50%超")
    t = re.sub(r"(?<![a-z])(?:a |one )?half\b|半数|半分", "50%", t)
    return t


_LATENCY = ("レスポンス", "応答", "response time", "latency", "応答時間", "レイテンシ", "遅延")
_ABSOLUTE_TIME = r"\d+(?:\.\d+)?\s*(?:ms|msec|milliseconds?|ミリ秒|秒|s|sec|secs|seconds?)(?![a-z])"


def criterion_meaning(text: str) -> Meaning:
    """A criterion sentence -> metric, comparator and threshold, kept exactly as said ('>' for
    'above / 超 / を超え', '>=' for '≥ / 以上 / at least'). A threshold said with a comparator pointing
    down (未満, 以下, below, at most) or an absolute latency (3秒, 500 ms) is not what the drill measures:
    unread, with the comparator kept. Order matters: numbers first (a 5xx ratio, a latency factor),
    then what the sentence is about."""
    t = _prose_numbers(norm(text))
    latency = any(w in t for w in _LATENCY)
    if re.search(r"success|成功|正常応答", t) and re.search(_PCT, t):
        m = re.search(_PCT, t)
        return Meaning("unread", comparator_near(t, m.start(), m.end()) or "",
                       why="a success rate also counts failures a 5xx share does not (4xx, timeouts), so it is not "
                       "converted into one")
    if re.search(_ERR, t) and re.search(_PCT, t):
        m = re.search(_PCT, t)
        comp = comparator_near(t, m.start(), m.end()) or ">"
        if comp.startswith("<"):
            return Meaning("unread", comp, float(m.group(1)) / 100.0, "ratio",
                           why=f"the threshold points down ({comp}): the drill measures a rise of the 5xx share")
        return Meaning("error_ratio", comp, float(m.group(1)) / 100.0, "ratio")
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:倍|x(?![a-z])|×|times)", t)
    if latency and m:
        comp = comparator_near(t, m.start(), m.end()) or ">"
        if comp.startswith("<"):
            return Meaning("unread", comp, float(m.group(1)), "x baseline",
                           why=f"the threshold points down ({comp}): the drill measures a slow-down")
        return Meaning("latency_factor", comp, float(m.group(1)), "x baseline")
    if latency and re.search(_ABSOLUTE_TIME, t):
        return Meaning("unread", why="an absolute latency: the drill measures a factor of the pre-fault latency")
    for kind, words in _ABOUT:
        if any(w in t for w in words):
            return Meaning(kind)
    return Meaning("unread", why="no metric the drill knows is named")


_ABOUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("security", ("セキュリティ", "脆弱性", "security", "vulnerab", "breach")),
    ("db", ("データベース", "db", "database", "postgres", "cloud sql")),
    ("login", ("ログイン", "サインイン", "log in", "login", "sign in", "sign-in", "signin")),
    ("streaming", ("ストリーミング", "リアルタイム", "streaming", "real-time", "realtime", "websocket")),
    ("jobs", ("ジョブ", "sidekiq", "job", "queue", "キュー")),
    ("media", ("メディア", "アップロード", "media", "upload", "画像")),
    ("performance", ("パフォーマンス", "性能", "performance", "遅い", "slow", "degraded")),
    ("feature", ("一部機能", "機能", "feature", "functionality")),
    ("down", ("ダウン", "全断", "完全に停止", "down", "outage")),
)

# ---- checklists --------------------------------------------------------------------------------
CHECKLIST_PHASES = {"before": ("実施前", "事前", "before", "pre-"), "during": ("実施中", "during", "while"),
                    "after": ("実施後", "after", "post-rollback", "post rollback", "afterwards"),
                    "followup": ("事後", "follow-up", "follow up", "followup", "later")}


def checklist_phase(title: str) -> str | None:
    t = norm(title)
    for phase in ("followup", "before", "during", "after"):
        if any(w in t for w in CHECKLIST_PHASES[phase]):
            return phase
    return None


# What a post-rollback item asks for, by meaning. Order: the more specific first.
CHECKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("error_log", ("エラーログ", "error log", "errors in the log", "logs show no error")),
    ("health", ("ヘルスチェック", "health check", "healthcheck", "/health")),
    ("jobs", ("バックグラウンドジョブ", "ジョブ", "sidekiq", "background job", "jobs")),
    ("monitoring", ("モニタリング", "監視", "monitoring", "dashboards")),
    ("access", ("アクセス", "ログイン", "access", "log in", "sign in")),
    ("service", ("正常稼働", "正常に動", "稼働", "service is running", "service runs", "running normally", "service is up")),
)


def checklist_check(item: str) -> str | None:
    t = norm(item)
    for check, words in CHECKS:
        if any(w in t for w in words):
            return check
    return None


def verification_kind(command: str, worker_deployments: set[str] = frozenset()) -> str | None:
    """What a verification command checks, read from the command (not its comment): an HTTP request to
    a health path -> "health"; logs filtered for errors -> "error_log"; a look at a worker Deployment
    (sidekiq / worker, or one named in `worker_deployments`) -> "worker"."""
    t = command.strip()
    if re.match(r"^(curl|wget|http|https)\b", t) and re.search(r"/(health|healthz|readyz|livez)\b", t):
        return "health"
    if re.search(r"\blogs\b.*\|\s*(grep|egrep|rg)\b.*\b(error|err|exception|fatal)\b", t, re.IGNORECASE):
        return "error_log"
    named = set(re.findall(r"(?:deployment|deploy)[/ ]([\w.-]+)", t))
    if named and (named & set(worker_deployments) or any(re.search(r"sidekiq|worker", n) for n in named)):
        return "worker"
    return None


BACKUP_FILE_WORDS = ("バックアップファイル", "backup file", "backup files")
OPTIONAL_WORDS = ("オプション", "optional", "任意")
ALTERNATIVE_WORDS = ("または", "もしくは", "あるいは", "or,", "or if", "alternatively", "otherwise")
MANUAL_WORDS = ("手動", "manual", "by hand", "browser")
EXAMPLE_WORDS = ("例:", "例：", "e.g.", "for example", "example:")


# ---- what a command touches ------------------------------------------------------------------
_KIND_ALIASES = {"deploy": "deployment", "deployments": "deployment", "svc": "service", "services": "service",
                 "ing": "ingress", "ingresses": "ingress", "po": "pod", "pods": "pod", "cm": "configmap",
                 "configmaps": "configmap", "secrets": "secret", "hpa": "horizontalpodautoscaler"}


def objects_touched(command: str) -> list[str]:
    """What a command reads or changes, as `kind/name`, `file F`, `kustomization D`, `kind -l SEL`,
    `all kinds` (--all), `helm release R`, `Cloud SQL instance I` — read from the command itself."""
    import shlex
    try:
        words = shlex.split(command.split("|")[0])
    except ValueError:
        words = command.split()
    if not words:
        return []
    out: list[str] = []
    tool = words[0]
    if tool == "kubectl" and len(words) > 1:
        verb, rest = words[1], words[2:]
        flags = {w.split("=")[0] for w in rest if w.startswith("-")}
        positional = [w for i, w in enumerate(rest) if not w.startswith("-") and
                      not (i > 0 and rest[i - 1] in ("-f", "-k", "-l", "-n", "--for", "--timeout", "-o"))]
        for i, w in enumerate(rest):
            if w == "-f" and i + 1 < len(rest):
                out.append(f"file {rest[i + 1]}")
            if w == "-k" and i + 1 < len(rest):
                out.append(f"kustomization {rest[i + 1]}")
        selector = next((rest[i + 1] for i, w in enumerate(rest) if w == "-l" and i + 1 < len(rest)), None)
        if verb in ("exec", "logs") and positional:
            out.append(positional[0] if "/" in positional[0] else f"pod/{positional[0]}")
        elif verb in ("wait",) and positional:
            kind = _KIND_ALIASES.get(positional[0], positional[0])
            out.append(f"{kind} -l {selector}" if selector else kind)
        elif positional and verb in ("get", "describe", "scale", "annotate", "delete", "rollout", "label", "patch"):
            p = positional[1:] if verb == "rollout" else positional
            if p:
                if "/" in p[0]:
                    out.append(p[0])
                else:
                    kind = _KIND_ALIASES.get(p[0], p[0])
                    names = [n for n in p[1:] if "=" not in n]
                    if "--all" in flags:
                        out.append(f"every {kind} in the namespace")
                    elif selector:
                        out.append(f"{kind} -l {selector}")
                    out += [f"{kind}/{n}" for n in names] or ([] if "--all" in flags or selector else [f"every {kind}"])
        elif verb == "top" and positional:
            out.append(f"metrics of {positional[0]}")
    elif tool == "helm" and len(words) > 2 and words[1] in ("uninstall", "delete", "status", "upgrade", "rollback"):
        out.append(f"helm release {words[2]}")
    elif tool == "gcloud":
        inst = next((w.split("=", 1)[1] for w in words if w.startswith(("--instance=", "--restore-instance=",
                                                                          "--backup-instance="))), None)
        out.append(f"Cloud SQL instance {inst}" if inst else "Google Cloud project")
    elif tool == "curl":
        url = next((w for w in words[1:] if w.startswith("http")), "")
        out.append(f"URL {url}")
    return out


# ---- what a level restores, from what its commands do -------------------------------------------
@dataclass(frozen=True)
class Restores:
    full_state: bool  # the pre-migration objects back and the Helm release gone
    database: bool  # the database brought back from a backup
    evidence: tuple[str, ...]  # "line N: what that command does", the commands that decided it

    def describe(self) -> str:
        if self.full_state:
            return "the whole pre-migration state" + (" and the database" if self.database else "")
        return "traffic to the old stack"


def _restore_does(command: str) -> str | None:
    """What one command does towards a restore: 'database' | 'release' | 'manifests' | 'traffic' | None."""
    t = " ".join(command.split())
    if re.search(r"\bgcloud\b.*\bsql\b.*\b(backups\s+restore|import)\b", t) or \
            re.search(r"(^|[;&|]\s*)(pg_restore|mysql\b.*<|psql\b.*(\s-f\s|<))", t) or \
            re.search(r"\baws\s+rds\s+restore-", t):
        return "database"
    if re.match(r"^helm\s+(uninstall|delete|del|un)\b", t):
        return "release"
    if re.match(r"^kubectl\b.*\b(apply|create|replace)\b.*(\s-k\s|\s--kustomize[=\s])", t) or \
            re.match(r"^kustomize\s+build\b.*\|\s*kubectl\s+apply\b", t):
        return "manifests"
    if re.match(r"^kubectl\b.*\b(apply|replace|patch|edit)\b", t) and re.search(r"ingress", t, re.I):
        return "traffic"
    return None


def restores_by_commands(commands) -> Restores:
    """What a level brings back, read from what its commands do, never from its title: a database
    restore (gcloud sql backups restore / import, pg_restore, psql -f) brings back the database and
    the whole pre-migration state; removing the Helm release or re-applying the old manifests
    (kubectl apply -k) brings back the whole pre-migration state; otherwise the level switches
    traffic back to the old stack. Optional commands (オプション / optional) do not decide it."""
    database = full = False
    evidence: list[str] = []
    for c in commands:
        if any(w in norm(c.comment) for w in OPTIONAL_WORDS):
            continue
        does = _restore_does(c.text)
        if does == "database":
            database = full = True
            evidence.append(f"line {c.line}: restores the database ({c.text.split(' --')[0]})")
        elif does in ("release", "manifests"):
            full = True
            evidence.append(f"line {c.line}: " + ("removes the Helm release" if does == "release"
                                                  else "re-applies the old manifests") + f" ({c.text})")
        elif does == "traffic":
            evidence.append(f"line {c.line}: switches the Ingress back ({c.text})")
    return Restores(full, database, tuple(evidence))


# ---- the language a runbook is written in -----------------------------------------------------------
_STOPWORDS = {
    "English": ("the", "and", "of", "to", "is", "are", "if", "for", "with", "within", "when", "back", "not", "only",
                "this", "that", "it", "by", "from", "as", "be", "roll", "wait", "check", "all", "after", "before"),
    "German": ("der", "die", "das", "und", "ist", "nicht", "mit", "wenn", "den", "dem", "ein", "eine", "zu", "auf",
               "für", "von", "bei", "oder", "nur", "innerhalb", "sofort", "werden", "wird", "alle", "nach", "vor",
               "sind", "des", "zurück", "minuten", "stufe"),
    "Spanish": ("el", "la", "los", "las", "y", "del", "que", "es", "con", "por", "para", "si", "una", "se", "al",
                "dentro", "inmediatamente", "minutos", "nivel", "está", "están", "todos", "después", "antes"),
    "French": ("le", "les", "et", "du", "des", "est", "avec", "pour", "si", "une", "dans", "pas", "sont", "immédiatement",
               "niveau", "après", "avant", "tous", "être", "la", "que"),
    "Portuguese": ("o", "os", "as", "e", "do", "da", "dos", "das", "que", "é", "com", "para", "uma", "não", "nível",
                   "imediatamente", "minutos", "depois", "antes"),
    "Italian": ("il", "lo", "gli", "e", "di", "che", "è", "con", "per", "una", "non", "sono", "livello", "minuti",
                "immediatamente", "dopo", "prima"),
    "Dutch": ("de", "het", "en", "een", "van", "is", "niet", "met", "voor", "als", "binnen", "direct", "niveau",
              "minuten", "na", "alle"),
}
_SCRIPTS = (("Korean", r"[\uac00-\ud7af]"), ("Russian (Cyrillic script)", r"[\u0400-\u04ff]"),
            ("Arabic", r"[\u0600-\u06ff]"), ("Hebrew", r"[\u0590-\u05ff]"), ("Thai", r"[\u0e00-\u0e7f]"),
            ("Greek", r"[\u0370-\u03ff]"))


def language(text: str) -> str:
    """'ja', 'en', or the name of the other language the prose is written in (code blocks and inline code
    left out): kana says Japanese; another script, or more of another language's common words than
    English ones, says that language."""
    prose = re.sub(r"^(```|~~~).*?^\1[^\n]*$", " ", text, flags=re.M | re.S)
    prose = re.sub(r"`[^`\n]*`", " ", prose)
    prose = re.sub(r"https?://\S+", " ", prose)
    kana = len(re.findall(r"[\u3040-\u30ff]", prose))
    if kana >= 10:
        return "ja"
    for name, rx in _SCRIPTS:
        if len(re.findall(rx, prose)) >= 20:
            return name
    if len(re.findall(r"[\u4e00-\u9fff]", prose)) >= 40 and kana == 0:
        return "Chinese"
    words = re.findall(r"[^\W\d_]+", prose.lower())
    score = {lang: sum(1 for w in words if w in set(sw) - (set(_STOPWORDS["English"]) if lang != "English" else set()))
             for lang, sw in _STOPWORDS.items()}
    best = max((lg for lg in score if lg != "English"), key=lambda lg: score[lg])
    if score[best] >= 8 and score[best] > 2 * score["English"]:
        return best
    return "ja" if kana else "en"
