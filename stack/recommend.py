"""Ranking catalog entries for an app's roles, from catalog data only: deterministic and offline."""

from __future__ import annotations

from dataclasses import dataclass

from dbstack.loader.apps import Role
from dbstack.loader.model import DatabaseSpec, VectorSearch

WEIGHT_PENALTY = {"light": 0, "medium": 1, "heavy": 2}
# Open-source licences with no condition on offering the software as a network service
# (unlike AGPL, SSPL or RSAL): a team can host it without reviewing its terms.
NO_SERVICE_CONDITIONS = {
    "postgresql",
    "mit",
    "apache-2.0",
    "bsd-3-clause",
    "bsd-2-clause",
    "public domain",
    "gpl-2.0",
    "gpl-2.0-only",
    "blessing",
}


def only_in(spec: DatabaseSpec) -> tuple[str, ...] | None:
    """The environments a restricted entry is allowed in; None when it runs in every one."""
    return spec.container.environments if spec.container else None


def environment_restriction(spec: DatabaseSpec, environment: str) -> str | None:
    """Why the catalog does not let ``spec`` run in ``environment`` (None when it does).

    The same rule render/compose.py enforces when it renders the service: planning applies it first,
    so that a stack is never planned around a database it would then refuse to render.
    """
    allowed = only_in(spec)
    if allowed is None or environment in allowed:
        return None
    return (
        f"it is allowed only in {', '.join(allowed)}, not in {environment} "
        f"(see its limitations: dbstack catalog show {spec.id})"
    )


def unmet_requirements(spec: DatabaseSpec, role: Role, environment: str) -> list[str]:
    """Why ``spec`` cannot fill ``role`` in ``environment``; empty when it can."""
    needs = role.requires
    reasons = []
    restriction = environment_restriction(spec, environment)
    if restriction:
        reasons.append(restriction)
    if needs.protocols and not set(needs.protocols) & set(spec.protocols):
        wanted = " or ".join(needs.protocols)
        reasons.append(f"it needs the {wanted} wire protocol ({spec.id} speaks {', '.join(spec.protocols)})")
    for capability in needs.capabilities:
        if not spec.capabilities.has(capability):
            reasons.append(f"it needs {capability.replace('_', ' ')}")
    if needs.server and spec.capabilities.embedded:
        reasons.append("it needs a database server, and this one is embedded")
    vector = spec.capabilities.vector_search
    if (
        needs.vector_dimensions
        and vector.support != "none"
        and isinstance(vector.max_dimensions, int)
        and vector.max_dimensions < needs.vector_dimensions
    ):
        reasons.append(
            f"it needs {needs.vector_dimensions}-dimension vectors (indexes take at most {vector.max_dimensions})"
        )
    return reasons


def dimension_limit(vector: VectorSearch) -> str:
    """How far vectors go, as the catalog can say it."""
    if isinstance(vector.max_dimensions, int):
        return f"up to {vector.max_dimensions} dimensions"
    return "of a dimension limit the documentation does not publish"


@dataclass(frozen=True)
class Candidate:
    """One database ranked for one role, with the reasons behind its score."""

    id: str
    name: str
    score: int
    reasons: tuple[str, ...]
    tradeoffs: tuple[str, ...]
    default: bool
    environments: tuple[str, ...] | None  # None: allowed in every environment

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "score": self.score,
            "default": self.default,
            "environments": None if self.environments is None else list(self.environments),
            "reasons": list(self.reasons),
            "tradeoffs": list(self.tradeoffs),
        }


def score(spec: DatabaseSpec, role: Role) -> Candidate:
    reasons: list[str] = []
    tradeoffs: list[str] = list(spec.workload.limitations)
    allowed = only_in(spec)
    if allowed is not None:
        tradeoffs.append(f"allowed only in {', '.join(allowed)}: dbstack renders no other environment for it")
    total = 0
    speaks = [p for p in role.requires.protocols if p in spec.protocols]
    if speaks:
        reasons.append(f"speaks the {speaks[0]} wire protocol")
    fit = spec.role_fit(role.workload)
    if fit is not None:
        total += 10 * fit.score
        reasons.append(f"{fit.fit} fit for {role.workload.replace('_', ' ')}: {fit.why}")
    else:
        tradeoffs.append(f"the catalog does not list it for {role.workload.replace('_', ' ')}")
    caps = spec.capabilities
    if caps.vector_search.support != "none" and (
        role.requires.vector_dimensions or "vector_search" in role.requires.capabilities
    ):
        vector = caps.vector_search
        if "hnsw" in vector.index_types:
            total += 3
            reasons.append("HNSW indexes for fast approximate search")
        reasons.append(f"vectors {dimension_limit(vector)}; {', '.join(vector.distance_metrics)}")
        if not isinstance(vector.max_dimensions, int) and role.requires.vector_dimensions:
            needed = role.requires.vector_dimensions
            tradeoffs.append(f"its documentation publishes no vector dimension limit: check it takes {needed}")
        if vector.support == "native":
            total += 1
    for capability, points, text in (
        ("tls", 2, "TLS for client connections"),
        ("replication", 2, "built-in replication"),
        ("transactions", 1, "transactions"),
    ):
        if caps.has(capability):
            total += points
            reasons.append(text)
    penalty = WEIGHT_PENALTY[spec.workload.operational_weight]
    total -= 2 * penalty
    if penalty:
        tradeoffs.append(f"{spec.workload.operational_weight} operational weight")
    if spec.license.lower() in NO_SERVICE_CONDITIONS:
        total += 2
        reasons.append(f"{spec.license} licence")
    else:
        tradeoffs.append(f"{spec.license} licence: check its terms for your use")
    if spec.id == role.default:
        total += 1
        reasons.append("the app's own default")
    return Candidate(
        spec.id, spec.name, total, tuple(reasons), tuple(tradeoffs), spec.id == role.default, allowed
    )


def rank(specs: list[DatabaseSpec], role: Role, environment: str) -> list[Candidate]:
    """Every spec that can fill the role in ``environment``, best first (ties by id, so the order is stable)."""
    fitting = [score(spec, role) for spec in specs if not unmet_requirements(spec, role, environment)]
    return sorted(fitting, key=lambda c: (-c.score, c.id))
