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
_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10, "fifteen": 15, "twenty": 20,
              "thirty": 30, "sixty": 60, "ninety": 90}


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


def deadline(title: str) -> float | None:
    """'即座にロールバック' / 'immediately' -> 0; '15分以内' / 'within 15 minutes' -> 900; else None."""
    t = norm(title)
    if any(w in t for w in ("即座", "即時", "直ちに", "すぐに", "immediate", "at once", "right away")):
        return 0.0
    m = re.search(rf"(\d+(?:\.\d+)?)\s*{_UNIT}(?![a-z])", t)
    return _seconds(m.group(1), m.group(2)) if m else None


# ---- targets -------------------------------------------------------------------------------------
_DASH = r"[-‐‑–—〜~～]|to|から"


def target_range(text: str) -> tuple[float, float] | None:
    """'1-2分' (60, 120) · '30分-2時間' · '1–2 min' · '30 min – 2 h' · '2分以内' / 'up to 2 h' (0, max) ·
    '90秒' (90, 90) · 'about 5 minutes'. None when it is not a duration."""
    t = norm(text)
    for w, n in _NUM_WORDS.items():
        t = re.sub(rf"\b{w}\b", str(n), t)
    t = re.sub(r"^(約|およそ|about|approx\.?|approximately|around|~)\s*", "", t)
    m = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{_UNIT}?\s*(?:{_DASH})\s*(\d+(?:\.\d+)?)\s*{_UNIT}", t)
    if m:
        lo, lo_u, hi, hi_u = m.groups()
        return _seconds(lo, lo_u or hi_u), _seconds(hi, hi_u)
    m = re.fullmatch(rf"(?:up to|within|at most|no more than|≤|<=)\s*(\d+(?:\.\d+)?)\s*{_UNIT}", t) or \
        re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{_UNIT}\s*(?:以内|まで|以下)", t)
    if m:
        return 0.0, _seconds(m.group(1), m.group(2))
    m = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{_UNIT}", t)
    if m:
        s = _seconds(m.group(1), m.group(2))
        return s, s
    return None


# ---- level and step headings, labels ------------------------------------------------------------
def level_heading(title: str) -> tuple[int, str] | None:
    m = re.match(r"^(?:level|レベル|lv\.?)\s*(\d+)\s*[:：.\-–—]?\s*(.*)$", norm(title))
    if not m:
        return None
    # keep the title as written (not normalised) after the number
    raw = re.sub(r"^\s*(?:level|レベル|lv\.?)\s*\d+\s*[:：.\-–—]?\s*", "", title, flags=re.I)
    return int(m.group(1)), raw.strip() or m.group(2)


def step_heading(title: str) -> tuple[int, str] | None:
    m = re.match(r"^(?:手順|ステップ|step)\s*(\d+)\s*[:：.\-–—]?\s*(.*)$", norm(title))
    if not m:
        return None
    raw = re.sub(r"^\s*(?:手順|ステップ|step)\s*\d+\s*[:：.\-–—]?\s*", "", title, flags=re.I)
    return int(m.group(1)), raw.strip()


LABELS = {"target": ("所要時間", "目安時間", "目標時間", "想定時間", "duration", "target", "time", "expected time"),
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


_PCT = r"(\d+(?:\.\d+)?)\s*%"
_ERR = r"(?:5xx|5\d\d|エラー率|error rate|errors)"
_ABOVE = (("超", ">"), ("を超え", ">"), ("より多", ">"), ("以上", ">="), ("above", ">"), ("over", ">"),
          ("exceeds", ">"), ("exceed", ">"), ("more than", ">"), ("greater than", ">"), ("at least", ">="),
          (">=", ">="), ("≥", ">="), (">", ">"))


def _comparator(around: str) -> str:
    for word, comp in _ABOVE:
        if word in around:
            return comp
    return ">"


def criterion_meaning(text: str) -> Meaning:
    """A criterion sentence -> metric, comparator and threshold. Order matters: numbers first
    (a 5xx ratio, a latency factor), then what the sentence is about."""
    t = norm(text)
    if re.search(_ERR, t) and re.search(_PCT, t):
        m = re.search(_PCT, t)
        around = t[max(0, m.start() - 12):m.end() + 12]
        return Meaning("error_ratio", _comparator(around), float(m.group(1)) / 100.0, "ratio")
    latency = any(w in t for w in ("レスポンス", "応答", "response time", "latency", "応答時間"))
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:倍|x\b|×|times)", t)
    if latency and m:
        return Meaning("latency_factor", ">=" if any(w in t for w in ("以上", "at least")) else ">",
                       float(m.group(1)), "x baseline")
    if latency and ("three times" in t or "3倍" in t):
        return Meaning("latency_factor", ">=", 3.0, "x baseline")
    for kind, words in _ABOUT:
        if any(w in t for w in words):
            return Meaning(kind)
    return Meaning("unread")


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
