"""What enters the harness from outside — names, ids, URLs — checked where it enters.

Why one module: a context, namespace or release name from a flag or the sidecar becomes part of a
file path, a kubectl argument or a shell word; a backup id read from the cluster becomes an
argument of a command; a URL becomes where the load sends passwords. Each is checked here, once,
against what its owner (Kubernetes, Helm, Cloud SQL, the user's allow-list) accepts, so that a
path can never leave its folder and a value never becomes shell syntax. What is refused is said
in one line: what, where it came from, and how to fix it (exit 2 for the caller).

The harness trusts the runbook's Markdown (its commands are the drill) and the user's own flags
for what to do; it trusts nothing that a name, id, URL or cluster answer could smuggle in.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class Untrusted(ValueError):
    """A name, id or URL from outside that the harness will not use (exit 2, one line)."""


# Kubernetes: a namespace is an RFC 1123 label; most object names are RFC 1123 subdomains.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Helm's release name rule (pkg/chartutil validateReleaseName): a subdomain of at most 53 characters.
_HELM_MAX = 53
# A kubeconfig context name is free text to Kubernetes; the harness takes the characters real
# providers use (gke_project_zone_name, arn:aws:eks:…:cluster/name, user@cluster, kind-x).
_CONTEXT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/+=-]*$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")


def _refuse(kind: str, value: object, where: str, expected: str) -> Untrusted:
    return Untrusted(f"{kind} {value!r}{f' ({where})' if where else ''}: {expected}")


def namespace(value: object, where: str = "") -> str:
    """A Kubernetes namespace (RFC 1123 label, at most 63 characters)."""
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.match(value):
        raise _refuse("namespace", value, where, "expected a Kubernetes namespace: lowercase letters, digits and '-', "
                      "at most 63, starting and ending with a letter or digit")
    return value


def object_name(value: object, where: str = "", kind: str = "name") -> str:
    """A Kubernetes object name (RFC 1123 subdomain, at most 253 characters)."""
    if not isinstance(value, str) or len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise _refuse(kind, value, where, "expected a Kubernetes object name: lowercase letters, digits, '-' and "
                      "'.', starting and ending with a letter or digit")
    return value


def release(value: object, where: str = "") -> str:
    """A Helm release name (a subdomain of at most 53 characters, as helm itself requires)."""
    if not isinstance(value, str) or len(value) > _HELM_MAX or not _DNS_SUBDOMAIN.match(value):
        raise _refuse("Helm release", value, where, f"expected a Helm release name: lowercase letters, digits, '-' "
                      f"and '.', at most {_HELM_MAX}")
    return value


def context(value: object, where: str = "") -> str:
    """A kubeconfig context name: the characters providers use, no whitespace, no path tricks."""
    ok = (isinstance(value, str) and 0 < len(value) <= 253 and _CONTEXT.match(value)
          and ".." not in value.split("/") and "//" not in value)
    if not ok:
        raise _refuse("kubeconfig context", value, where, "expected a context name of letters, digits and "
                      "'_.:@/+=-' (no spaces, no '..' part, not starting with '-'); rename the context with "
                      "'kubectl config rename-context'")
    return value  # type: ignore[return-value]


def hostname(value: object, where: str = "") -> str:
    """A DNS host name (the host an Ingress routes on)."""
    ok = isinstance(value, str) and 0 < len(value) <= 253 and all(
        _HOST_LABEL.match(p) and len(p) <= 63 for p in value.rstrip(".").split("."))
    if not ok:
        raise _refuse("host", value, where, "expected a DNS host name such as social.example.org")
    return value  # type: ignore[return-value]


def backup_id(value: object, where: str = "") -> str:
    """A Cloud SQL backup run id: a decimal number (the API's int64 `id`)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,20}", text):
        raise _refuse("backup id", value, where, "expected the decimal id of a Cloud SQL backup run")
    return text


# ---- paths ---------------------------------------------------------------------------------------

def record_key(*parts: str) -> str:
    """A file name for a record keyed by several outside names: readable, but decided by a digest of
    the exact parts, so no two keys share a file ('a'+'b--c' vs 'a--b'+'c') and no name becomes a
    path ('/', '..')."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", "--".join(parts)).strip("._")[:48] or "x"
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return f"{slug}-{digest}"


def write_private(path: Path, text: str) -> Path:
    """A file with secrets, created 0600 from the first byte (never chmod'ed after the fact), written
    whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by umask; an old tmp file keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---- URLs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Origin:
    """scheme, host and port of a URL: what the allow-list is keyed by (no prefix matching)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def origin(url: str, where: str = "") -> Origin:
    """Parse a base URL strictly: http(s), a host, a numeric port; no user:password@, no query."""
    try:
        u = urlsplit(url.strip())
        port = u.port
    except (ValueError, AttributeError):
        raise _refuse("URL", url, where, "expected http(s)://HOST[:PORT]") from None
    if u.scheme not in ("http", "https") or not u.hostname or u.username is not None or u.password is not None \
            or u.query or u.fragment or any(c.isspace() for c in url.strip()):
        raise _refuse("URL", url, where, "expected http(s)://HOST[:PORT] (no user:password@, query or spaces)")
    host = u.hostname.lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        hostname(host, where)
    return Origin(u.scheme, host, port or (443 if u.scheme == "https" else 80))


ALLOWED_TARGETS_ENV = "ROLLBACK_DRILL_ALLOWED_TARGETS"


def allowed_origins() -> set[Origin]:
    """What the user listed in $ROLLBACK_DRILL_ALLOWED_TARGETS (comma-separated base URLs); an entry
    that is not a base URL is refused, never half-read."""
    raw = [t for t in os.environ.get(ALLOWED_TARGETS_ENV, "").split(",") if t.strip()]
    return {origin(t.strip().rstrip("/"), ALLOWED_TARGETS_ENV) for t in raw}


def local_ingress_url(url: str, where: str) -> str:
    """The drill's own Ingress (a loopback address on this machine) — e.g. $ROLLBACK_DRILL_INGRESS_URL."""
    o = origin(url, where)
    if not o.loopback:
        raise _refuse("Ingress URL", url, where, "the drill's own Ingress listens on a loopback address "
                      "(http://127.0.0.1:PORT); a staging URL goes to --target-url and "
                      f"{ALLOWED_TARGETS_ENV}")
    return str(o)


def target_origin(base_url: str, own_ingress: bool) -> Origin:
    """Where load and probes may send requests: the drill's own Ingress (a loopback address the
    harness set up) or an origin (scheme, host, port) the user allowed; nothing else, no prefix
    matching. Load and probes follow no redirect at all (a 3xx is the answer), so a password grant
    is never sent again to an origin nobody allowed."""
    o = origin(base_url)
    if own_ingress:
        if not o.loopback:
            raise Untrusted(f"the drill's own Ingress must be on a loopback address, not {base_url}")
    elif o not in allowed_origins():
        raise Untrusted(f"load and probes go only to the drill's own Ingress on 127.0.0.1 or a URL listed in "
                        f"{ALLOWED_TARGETS_ENV} (scheme, host and port), not {o}")
    return o


def reachable_url(url: str) -> str:
    """A URL the harness itself may request while setting up: a loopback address of this machine (the
    drill's own Ingress) or an allowed origin; anything else is refused before a byte is sent."""
    u = urlsplit(url)
    o = origin(f"{u.scheme}://{u.netloc}")
    if not (o.loopback or o in allowed_origins()):
        raise Untrusted(f"refusing to request {o}: not the drill's own Ingress and not in {ALLOWED_TARGETS_ENV}")
    return url


def no_redirect_opener():
    """urllib follows redirects by default; the harness's own requests never do (a 3xx is the answer)."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    return urllib.request.build_opener(_NoRedirect)
