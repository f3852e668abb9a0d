"""Redaction: one mechanism for every artifact the harness or its test plugins write.

Why: the runbook itself prints `REDIS_PASSWORD`, a team's Secrets hold whole `.env` files, a
kubeconfig carries tokens and keys, and command output arrives base64-wrapped, URL-encoded or
JSON-escaped. A secret must not reach a journal, report, summary, JUnit or cucumber file, history
or log in any of those forms.

Two kinds of rule, applied together:
- **known values** (the drill's credentials, the namespace's Secret values and each `KEY=value`
  line of an env-file Secret, the probe account): the value and its encodings — base64 (standard
  and URL-safe, with or without padding, wrapped at any width), URL-encoding, JSON escaping (once
  and twice). A value of 4–7 characters is matched only as a whole word (so `pass` does not eat
  `password`); a value under 4 characters cannot be told from ordinary text and is caught only by
  the shapes below.
- **known shapes**, whatever the value: `Authorization: Bearer …`, `KEY=value` / `key: value`
  where the key names a password, secret, token or private key, credentials in a URL
  (`scheme://user:password@`), PEM private keys, JSON Web Tokens.

Every value any `Redactor` was given is also remembered for the process (`known_secrets`), so the
pytest plugins' files (JUnit, cucumber) can be redacted after they are written (conftest.py).
Redact before truncating: a cut can leave a tail that no longer matches.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
MIN_FREE_TEXT = 4  # shorter values are only caught by shape
WHOLE_WORD_BELOW = 8  # shorter values are matched as whole words only

_SEEN: set[str] = set()

# key names that hold a secret (env files, YAML/JSON, kubeconfig, HTTP headers)
# key names that hold a secret (env files, YAML/JSON, kubeconfig, HTTP headers): the word, alone or
# joined to others by _ . - (DB_PASS, REDIS_PASSWORD, client-key-data, SECRET_KEY_BASE, access_token)
_SECRET_KEY = (r"(?:[A-Za-z0-9]+[_.\-])*(?:pass(?:wd|word)?|secret|token|private[_-]?key|client[_-]?key|"
               r"api[_-]?key|access[_-]?key|credentials?|key[_-]base)(?:[_.\-][A-Za-z0-9]+)*")
SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), REDACTED),
    (re.compile(r"\b((?:Bearer|Basic|Token)\s+)[A-Za-z0-9\-._~+/]+=*", re.I), rf"\g<1>{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@\"']*:)[^\s@/\"']+(@)", re.I), rf"\g<1>{REDACTED}\g<2>"),
    # KEY=value (env files, shell), "key": "value" (JSON), key: value (YAML, kubeconfig)
    (re.compile(rf"(\b{_SECRET_KEY}\s*=\s*)(['\"]?)(?!\[REDACTED\])[^\s'\"&;]+\2", re.I), rf"\g<1>\g<2>{REDACTED}\g<2>"),
    (re.compile(rf"((?:\"|\\\"){_SECRET_KEY}(?:\"|\\\")\s*:\s*(?:\"|\\\"))(?!\[REDACTED\])(?:[^\"\\]|\\[^\"])+",
                re.I), rf"\g<1>{REDACTED}"),
    (re.compile(rf"(^[ \t-]*{_SECRET_KEY}[ \t]*:[ \t]+)(?!\[REDACTED\])([^\s{{}}\[\]][^\n]*)", re.I | re.M),
     rf"\g<1>{REDACTED}"),
)


def env_file_values(text: str) -> list[str]:
    """Each value of a `KEY=value` line (an env file held in a Secret): secrets of their own."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*(.*)$", line)
        if m:
            v = m.group(1).strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            if v:
                out.append(v)
    return out


def _encodings(s: str) -> tuple[set[str], set[str]]:
    """(text forms, base64 forms) of a value."""
    raw = s.encode()
    text = {s, quote(s, safe=""), quote(s), quote_plus(s), json.dumps(s)[1:-1],
            json.dumps(s, ensure_ascii=False)[1:-1], json.dumps(json.dumps(s)[1:-1])[1:-1]}
    b64: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        b64 |= {whole, whole.rstrip("=")}
        # inside a larger base64 blob (a whole env file, a kubeconfig) the value starts at any offset
        # mod 3: the characters made of its bits alone, for each offset
        for k, first in ((0, 0), (1, 2), (2, 3)):
            core = encode(b"\0" * k + raw).decode()[first:(8 * (k + len(raw))) // 6]
            if len(core) >= 6:
                b64.add(core)
    return {f for f in text if f}, b64


def _pattern(form: str, whole_word: bool, b64: bool) -> str:
    if whole_word:
        return rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])"
    if b64:  # base64 may be wrapped at any width (76 for MIME, 64 for PEM): a line break between any two characters
        return r"(?:\r?\n)?".join(re.escape(c) for c in form)
    return re.escape(form)


def known_secrets() -> set[str]:
    """Every value a Redactor of this process was given."""
    return set(_SEEN)


class Redactor:
    """Replaces known secret values (in every encoding above) and known secret shapes with [REDACTED]."""

    #: how many distinct strings the memo keeps before it starts over
    MEMO_MAX = 50_000

    def __init__(self, secrets: list[str] | tuple[str, ...] | set[str] = ()) -> None:
        self.values: set[str] = set()
        self._known: re.Pattern[str] | None = None
        # A journal repeats few strings many times (18 drills: 164 375 strings, 3 474 distinct: probe
        # names, pod names, details) and is rewritten after every drill: each distinct string is
        # redacted once per set of values (the memo starts over when a value is added).
        self._memo: dict[str, str] = {}
        self.add(secrets)

    def add(self, secrets) -> None:
        """More values to redact from now on (a Secret read after the drill began)."""
        values: set[str] = set()
        for s in secrets:
            if not isinstance(s, str) or not s.strip():
                continue
            values.add(s)
            values |= {v for v in env_file_values(s) if v != s}
        values = {v for v in values if len(v) >= MIN_FREE_TEXT} - self.values
        if not values:
            return
        _SEEN.update(values)
        self.values |= values
        forms: dict[str, bool] = {}  # form -> is base64
        for v in self.values:
            text, b64 = _encodings(v)
            forms |= {f: False for f in text} | {f: True for f in b64 if f not in text}
        patterns = [_pattern(f, len(f) < WHOLE_WORD_BELOW, is_b64)
                    for f, is_b64 in sorted(forms.items(), key=lambda kv: len(kv[0]), reverse=True)]
        self._known = re.compile("|".join(patterns))
        self._memo = {}

    def redact(self, text: str) -> str:
        if not text:
            return text
        done = self._memo.get(text)
        if done is not None:
            return done
        out = text
        if self._known is not None:
            out = self._known.sub(REDACTED, out)
        for pattern, repl in SHAPES:
            out = pattern.sub(repl, out)
        if len(self._memo) >= self.MEMO_MAX:
            self._memo = {}
        self._memo[text] = out
        return out

    def redact_obj(self, obj):
        """Strings anywhere in a JSON-like object, dictionary keys included."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(x) for x in obj]
        if isinstance(obj, dict):
            return {(self.redact(k) if isinstance(k, str) else k): self.redact_obj(v) for k, v in obj.items()}
        return obj


def redact_file(path: Path, redactor: Redactor | None = None) -> bool:
    """Redact a file some other tool wrote (a pytest plugin's JUnit or cucumber file) in place, with
    every secret this process has seen. Returns whether anything changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    out = (redactor or Redactor(known_secrets())).redact(text)
    if out == text:
        return False
    from rollback_drill.evidence.journal import atomic_write
    atomic_write(path, out)
    return True
