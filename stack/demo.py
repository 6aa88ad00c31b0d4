"""The walk-through the integration plan called final_demo.py: every adapter in the catalog,
its connection strings, its compose service, its capabilities and where it is recommended.

Secrets are generated for the demo and masked in what it prints.
"""

from __future__ import annotations

from typing import TextIO

from dbstack.render.compose import dump_compose
from dbstack.render.sandbox import userinfo

from .config_engine import ConfigEngine
from .recommend import dimension_limit


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(userinfo(secret), "****").replace(secret, "****")
    return text


def walk_catalog(engine: ConfigEngine, out: TextIO) -> None:
    recommendations = engine._get_llm_recommendations()
    for spec in engine.registry:
        adapter = engine.get_database_adapter(spec.id).with_generated_secrets()
        secrets = [str(v) for k, v in adapter.config.items() if spec.parameters[k].secret]
        caps = spec.capabilities
        vector = caps.vector_search
        out.write(f"== {spec.name} ({spec.id}) - {spec.category}, {spec.license}\n")
        out.write(f"   protocols: {', '.join(spec.protocols)}\n")
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
        if vector.support != "none":
            out.write(
                f"   vector search: {vector.support}, vectors {dimension_limit(vector)}, "
                f"{', '.join(vector.distance_metrics)}; indexes {', '.join(vector.index_types)}\n"
            )
        out.write("   connection strings (secrets masked):\n")
        if adapter.missing_required():
            out.write(f"     (needs {', '.join(adapter.missing_required())})\n")
        else:
            for form, url in adapter.connection_strings().items():
                out.write(f"     {form}: {_mask(url, secrets)}\n")
        pool = adapter.pool_options()
        if pool:
            out.write(f"   pool settings for the driver: {pool}\n")
        places = [
            f"{role} #{rank}"
            for role, candidates in recommendations.items()
            for rank, candidate in enumerate(candidates, 1)
            if candidate.id == spec.id
        ]
        out.write(f"   recommended for LibreChat: {', '.join(places) or 'no role'}\n")
        if spec.container is None:
            out.write("   compose service: none (embedded in the application)\n\n")
            continue
        service = adapter.compose_service("production")
        out.write("   compose service (production):\n")
        for line in dump_compose({service.name: service.service}).splitlines():
            out.write(f"     {line}\n")
        out.write("\n")
