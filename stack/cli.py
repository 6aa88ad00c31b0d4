"""The ``dbstack`` command line. Exit codes: 0 ok, 1 invalid input or failure, 2 usage error."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from dbstack.loader import DatabaseAdapterRegistry, DbstackError, load_catalog
from dbstack.loader.config import parse_assignments
from dbstack.loader.model import CAPABILITY_NAMES, ROLE_NAMES
from dbstack.loader.registry import env_catalog_folders

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def _registry(args: argparse.Namespace) -> DatabaseAdapterRegistry:
    return DatabaseAdapterRegistry(args.catalog or ())


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def cmd_catalog_validate(args: argparse.Namespace) -> int:
    folders = env_catalog_folders() + list(args.catalog or ()) + [Path(p) for p in args.paths]
    result = load_catalog(folders)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.problems:
        files = len({p.file for p in result.problems})
        print(f"{len(result.problems)} problem(s) in {files} file(s)", file=sys.stderr)
        return EXIT_INVALID
    print(f"ok: {len(result.files)} file(s), {len(result.specs)} database(s)")
    return EXIT_OK


def cmd_catalog_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    specs = registry.find(capability=args.capability, protocol=args.protocol, role=args.role)
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "category": s.category,
            "protocols": list(s.protocols),
            "vector_search": s.capabilities.vector_search.support,
            "roles": list(s.workload.roles),
            "image": s.container.image_ref() if s.container else None,
        }
        for s in specs
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = [["ID", "NAME", "CATEGORY", "PROTOCOLS", "VECTOR", "IMAGE"]]
    table += [
        [r["id"], r["name"], r["category"], ",".join(r["protocols"]), r["vector_search"], r["image"] or "(embedded)"]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_catalog_show(args: argparse.Namespace) -> int:
    spec = _registry(args).spec(args.id)
    print(_dump(spec.to_dict(), args.format), end="" if args.format == "yaml" else "\n")
    return EXIT_OK


def cmd_url(args: argparse.Namespace) -> int:
    adapter = _registry(args).get_adapter(args.id, parse_assignments(args.set or []))
    print(adapter.connection_string(args.form))
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse, with the usage error on one line and exit code 2."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dbstack", description=__doc__)
    parser.add_argument(
        "--catalog", action="append", type=Path, metavar="DIR",
        help="add a catalog folder (repeatable; also DBSTACK_CATALOG_PATH)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    catalog = commands.add_parser("catalog", help="validate, list and show catalog entries")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True, parser_class=_Parser)
    validate = catalog_commands.add_parser("validate", help="check catalog files against the schema and each other")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="extra catalog files or folders")
    validate.set_defaults(handler=cmd_catalog_validate)
    listing = catalog_commands.add_parser("list", help="list databases, optionally filtered")
    listing.add_argument("--capability", choices=CAPABILITY_NAMES)
    listing.add_argument("--protocol", metavar="NAME")
    listing.add_argument("--role", choices=ROLE_NAMES)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=cmd_catalog_list)
    show = catalog_commands.add_parser("show", help="print one entry")
    show.add_argument("id", metavar="ID")
    show.add_argument("--format", choices=("yaml", "json"), default="yaml")
    show.set_defaults(handler=cmd_catalog_show)

    url = commands.add_parser("url", help="print a connection string")
    url.add_argument("id", metavar="ID")
    url.add_argument("--form", metavar="NAME", help="connection-string form (default: the entry's default)")
    url.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a parameter (repeatable)")
    url.set_defaults(handler=cmd_url)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DbstackError as exc:
        for line in str(exc).splitlines():
            print(f"dbstack: error: {line}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
