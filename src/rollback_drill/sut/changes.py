"""Every change the harness makes to a cluster, in order, with how to put it back.

On a team's cluster the harness changes only what its plan said, and puts all of it back: at the
end of the drill, on Ctrl-C, on an error. The runbook's own commands are not in this log (they are
the drill; their effect is what the drill measures) — only the harness's own: a namespace it
created, a release value it broke on purpose, a ConfigMap it added. The journal lists both what
was changed and what was put back; a revert that failed is said, never dropped.

A process killed with SIGKILL cannot put anything back. So on a cluster the harness does not own,
each change that needs undoing is also written, as data (`spec`), to a pending file the moment it
is made and removed once it is put back: the next drill on that context refuses while the file
exists, and `rollback-drill put-back --context NAME` carries out what it lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass
class Change:
    what: str  # "created namespace drill-1a2b", "helm upgrade of mastodon-helm: postgresql.auth.password"
    undo: Callable[[], str] | None  # puts it back; returns what it did (None: nothing to put back)
    reverted: str | None = None
    failed: str | None = None
    spec: dict | None = None  # the undo as data, for `put-back` after a killed run ({"kind": ..., ...})


@dataclass
class ChangeLog:
    changes: list[Change] = field(default_factory=list)
    pending: Path | None = None  # where the undos not yet done are kept (a cluster the harness does not own)
    pending_key: dict = field(default_factory=dict)  # whose undos: {"context": ..., "namespace": ...}, exactly

    def record(self, what: str, undo: Callable[[], str] | None, spec: dict | None = None) -> Change:
        c = Change(what, undo, spec=spec)
        self.changes.append(c)
        self._write_pending()
        return c

    def _write_pending(self) -> None:
        if self.pending is None:
            return
        from rollback_drill.untrusted import write_private
        left = [{"what": c.what, **c.spec} for c in self.changes if c.spec and c.undo and c.reverted is None]
        if left:
            write_private(self.pending, json.dumps({**self.pending_key, "undos": left}, indent=2))
        else:
            self.pending.unlink(missing_ok=True)

    def revert(self, only: list[Change] | None = None) -> list[str]:
        """Put back every change (or those in `only`) not yet put back, newest first; each at most
        once. Never raises: a revert that fails is recorded with its error and the others still run."""
        done = []
        for c in reversed(self.changes if only is None else only):
            if c.reverted is not None or c.failed is not None or c.undo is None:
                continue
            try:
                c.reverted = c.undo() or f"put back: {c.what}"
                done.append(c.reverted)
            except BaseException as e:  # noqa: BLE001 - Ctrl-C during cleanup too: say it, go on
                c.failed = f"{type(e).__name__}: {str(e).strip()[:300]}"
        self._write_pending()
        return done

    @property
    def reverted(self) -> list[str]:
        return [c.reverted for c in self.changes if c.reverted]

    @property
    def not_reverted(self) -> list[str]:
        return [f"{c.what} ({c.failed or 'not put back yet'})" for c in self.changes
                if c.undo is not None and c.reverted is None]

    def to_dict(self) -> dict:
        return {"changes": [c.what for c in self.changes], "reverted": self.reverted,
                "not_reverted": self.not_reverted}
