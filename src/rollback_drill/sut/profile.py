"""Fidelity profiles: the latencies the drill cluster is made to have (fixtures/profiles/*.yaml).

Lab seconds are not production minutes. A profile names each latency the runbook's commands meet
in production — app boot, image pull, Ingress reprogramming for the production Ingress class, the
Cloud SQL restore by database size — with its value, unit and source, and the drill cluster then
really behaves that way (sut/emulation.py): the numbers are not added afterwards. The evidence
records the profile whole, so a reader sees on what assumptions a recovery time was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rollback_drill import FIXTURES

PROFILES = FIXTURES / "profiles"
REQUIRED = ("web_boot", "streaming_boot", "sidekiq_boot", "image_pull", "ingress_propagation", "cloudsql_pending",
            "cloudsql_restore_fixed", "cloudsql_restore_per_gb")
# Parameters added after profiles were first written (a team's own profile may lack them): absent means
# not modelled, said as such in the evidence.
#   ingress_502_window: the last part of ingress_propagation in which the load balancer already routes to
#     the new backend but its health check has not passed: users get 502 (never longer than the propagation);
#   neg_ready: with container-native load balancing, how long after its containers are ready a pod's
#     readiness gate cloud.google.com/load-balancer-neg-ready turns True (the load balancer's health check).
OPTIONAL = ("ingress_502_window", "neg_ready")
NOT_MODELLED = "not in this profile: not modelled"
UNITS = {"s", "s/GB"}


class ProfileError(ValueError):
    """A profile that cannot be used: what, where, how to fix (exit 2)."""


@dataclass(frozen=True)
class Param:
    name: str
    value: float
    unit: str
    source: str
    range: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        return {"value": self.value, "unit": self.unit, "source": self.source,
                **({"range": list(self.range)} if self.range else {})}


@dataclass(frozen=True)
class Profile:
    name: str
    version: int
    description: str
    ingress_class: str
    image_absent_on_node: bool
    database_size_gb: float | None
    params: dict[str, Param] = field(default_factory=dict)
    path: str = ""

    def __getitem__(self, name: str) -> float:
        return self.params[name].value

    @property
    def emulates(self) -> bool:
        """Whether anything is emulated at all (the local profile emulates nothing)."""
        return any(p.value for p in self.params.values())

    def restore_s(self, size_gb: float | None) -> float:
        """Modelled Cloud SQL restore (RUNNING) time for a database of `size_gb`."""
        size = self.database_size_gb if size_gb is None else size_gb
        return self["cloudsql_restore_fixed"] + self["cloudsql_restore_per_gb"] * (size or 0)

    def to_dict(self, size_gb: float | None = None) -> dict:
        size = self.database_size_gb if size_gb is None else size_gb
        return {"name": self.name, "version": self.version, "file": self.path, "description": self.description,
                "ingress_class": self.ingress_class, "image_absent_on_node": self.image_absent_on_node,
                "database_size_gb": size, "parameters": {n: p.to_dict() for n, p in self.params.items()},
                "modelled_restore_s": round(self.restore_s(size), 1) if self.emulates else None}


def available() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    """A profile by name (fixtures/profiles/NAME.yaml) or by path; ProfileError says what is wrong."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ProfileError(f"profile {name_or_path!r}: no such profile (available: {', '.join(available())}, or a "
                           f"path to a YAML file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ProfileError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("parameters"), dict):
        raise ProfileError(f"{path}: expected a mapping with `profile`, `version` and `parameters`")
    params: dict[str, Param] = {}
    for name in REQUIRED + OPTIONAL:
        spec = data["parameters"].get(name)
        where = f"{path}: parameters.{name}"
        if spec is None and name in OPTIONAL:
            params[name] = Param(name, 0.0, "s", NOT_MODELLED)
            continue
        if not isinstance(spec, dict):
            raise ProfileError(f"{where}: missing (every profile names {', '.join(REQUIRED)})")
        value, unit, source = spec.get("value"), spec.get("unit"), str(spec.get("source") or "").strip()
        if not isinstance(value, (int, float)) or value < 0:
            raise ProfileError(f"{where}.value: a number >= 0 is needed, got {value!r}")
        if unit not in UNITS:
            raise ProfileError(f"{where}.unit: one of {sorted(UNITS)}, got {unit!r}")
        if not source:
            raise ProfileError(f"{where}.source: say where the value comes from (a page, a measurement, or "
                               f"'assumed: <why>')")
        rng = spec.get("range")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and rng[0] <= value <= rng[1]):
            raise ProfileError(f"{where}.range: [low, high] around the value, got {rng!r}")
        params[name] = Param(name, float(value), unit, " ".join(source.split()), tuple(rng) if rng else None)
    unknown = set(data["parameters"]) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise ProfileError(f"{path}: unknown parameters {sorted(unknown)} (known: {', '.join(REQUIRED + OPTIONAL)})")
    if params["ingress_502_window"].value > params["ingress_propagation"].value:
        raise ProfileError(f"{path}: parameters.ingress_502_window ({params['ingress_502_window'].value:g} s) is the "
                           f"last part of ingress_propagation ({params['ingress_propagation'].value:g} s): it cannot "
                           f"be longer")
    size = data.get("database_size_gb")
    if size is not None and (not isinstance(size, (int, float)) or size < 0):
        raise ProfileError(f"{path}: database_size_gb must be a number of GB >= 0 or null")
    return Profile(str(data.get("profile") or path.stem), int(data.get("version") or 1),
                   str(data.get("description") or ""), str(data.get("ingress_class") or "traefik"),
                   bool(data.get("image_absent_on_node")), None if size is None else float(size), params, str(path))
