"""The walk-through the integration plan called final_demo.py: every adapter in the catalog,
its connection strings, its compose service, its capabilities and where it is recommended.

Secrets are generated for the demo and masked in what it prints.
"""

from __future__ import annotations

from typing import TextIO

from dbstack.loader import text
from dbstack.render.compose import dump_compose, render_service, resolve_secrets
from dbstack.sandbox import userinfo

from .config_engine import ConfigEngine
from .recommend import Candidate, dimension_limit, only_in

# The environment the demo shows each entry in: the strictest one its catalog entry allows.
SHOWN_ENVIRONMENT = "production"


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(userinfo(secret), "****").replace(secret, "****")
    return text


def walk_catalog(engine: ConfigEngine, out: TextIO) -> None:
    recommendations: dict[str, dict[str, list[Candidate]]] = {}
    for spec in engine.registry:
        allowed = only_in(spec)
        environment = SHOWN_ENVIRONMENT if allowed is None or SHOWN_ENVIRONMENT in allowed else allowed[0]
        if environment not in recommendations:
            recommendations[environment] = engine.recommend(environment=environment)
        adapter = resolve_secrets(engine.registry.get_adapter(spec.id), spec.id).adapter
        secrets = [str(v) for k, v in adapter.config.items() if spec.parameters[k].secret]
        caps = spec.capabilities
        vector = caps.vector_search
        # Catalog text goes through text.terminal: it cannot move the cursor, recolour or add lines.
        show = text.terminal
        out.write(f"== {show(spec.name)} ({spec.id}) - {show(spec.category)}, {show(spec.license)}\n")
        out.write(f"   protocols: {show(', '.join(spec.protocols))}\n")
        flags = [
            name
            for name in (
                "transactions",
                "json_documents",
                "full_text_search",
                "replication",
                "tls",
                "embedded",
            )
            if caps.has(name)
        ]
        out.write(f"   capabilities: {', '.join(flags) or 'none'}\n")
        if allowed is not None:
            out.write(
                f"   environments: only {show(', '.join(allowed))} "
                f"(the catalog allows no other; see its limitations: dbstack catalog show {spec.id})\n"
            )
        if vector.support != "none":
            out.write(
                f"   vector search: {vector.support}, vectors {dimension_limit(vector)}, "
                f"{show(', '.join(vector.distance_metrics))}; indexes {show(', '.join(vector.index_types))}\n"
            )
        out.write("   connection strings (secrets masked):\n")
        if adapter.missing_required():
            out.write(f"     (needs {', '.join(adapter.missing_required())})\n")
        else:
            for form, url in adapter.connection_strings().items():
                out.write(f"     {show(form)}: {show(_mask(url, secrets))}\n")
        pool = adapter.pool_options()
        if pool:
            out.write(f"   pool settings for the driver: {show(pool)}\n")
        places = [
            f"{role} #{rank}"
            for role, candidates in recommendations[environment].items()
            for rank, candidate in enumerate(candidates, 1)
            if candidate.id == spec.id
        ]
        out.write(f"   recommended for LibreChat in {show(environment)}: {', '.join(places) or 'no role'}\n")
        if spec.container is None:
            out.write("   compose service: none (embedded in the application)\n\n")
            continue
        service = render_service(adapter, environment)
        out.write(f"   compose service ({show(environment)}):\n")
        for line in dump_compose({service.name: service.service}).splitlines():
            out.write(f"     {show(line)}\n")
        out.write("\n")
