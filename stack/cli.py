"""The ``dbstack`` command line.

Exit codes:
  0  ok (also when stdout is a pipe closed early, as in ``dbstack demo | head -1``)
  1  invalid input or a refused request: one ``dbstack: error:`` line per problem, nothing written
  2  usage error (unknown command or flag)
  3  internal error (a bug in dbstack): one line, no traceback unless DBSTACK_DEBUG=1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dbstack.loader import DatabaseAdapterRegistry, DbstackError, Problem, text
from dbstack.loader.config import parse_assignments
from dbstack.loader.environments import environment_names
from dbstack.loader.errors import CatalogError
from dbstack.loader.model import CAPABILITY_NAMES, ROLE_NAMES
from dbstack.loader.registry import check_catalog, env_catalog_folders

if TYPE_CHECKING:
    from dbstack.output import WriteReport

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
# generate's options that shape only the compose stack (e.g. a reverse proxy container): refused with
# --target kubernetes, where the cluster's Ingress controller plays that part.
COMPOSE_ONLY_GENERATE_OPTIONS: tuple[str, ...] = ("proxy",)
DEBUG_ENV = "DBSTACK_DEBUG"

Handler = Callable[[argparse.Namespace], int]


def _registry(args: argparse.Namespace, extra: Sequence[Path] = ()) -> DatabaseAdapterRegistry:
    registry = DatabaseAdapterRegistry([*(args.catalog or ()), *extra])
    for notice in registry.replacement_notices():  # every command that loads the catalog says so
        print(f"dbstack: note: {text.terminal(notice)}", file=sys.stderr)
    return registry


class _TerminalDumper(yaml.SafeDumper):
    """Strings holding hidden characters are double-quoted, where text.yaml_for_terminal can escape them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if text.needs_quotes(value) else None)


_TerminalDumper.add_representer(str, _represent_str)


def _dump(data: Any, fmt: str) -> str:
    """JSON or YAML of ``data`` for the terminal: the same data, with no control character let through."""
    if fmt == "json":
        return text.json_for_terminal(json.dumps(data, indent=2, ensure_ascii=False))
    dumped = yaml.dump(data, Dumper=_TerminalDumper, sort_keys=False, allow_unicode=True, width=100)
    return text.yaml_for_terminal(dumped)


def cmd_catalog_validate(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    result = check_catalog(env_catalog_folders() + list(args.catalog or ()) + paths)
    failed = any(p.severity == "error" for p in result.problems)
    if args.format == "json":
        report = {
            "valid": not failed,
            "files": len(result.files),
            "databases": len(result.specs),
            "problems": [p.as_dict() for p in result.problems],
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return EXIT_INVALID if failed else EXIT_OK
    for problem in result.problems:
        if args.format == "github":  # workflow commands are read from stdout
            print(github_annotation(problem))
        else:
            print(text.terminal(problem), file=sys.stderr)
    if result.problems:
        files = len({p.file for p in result.problems})
        print(f"{len(result.problems)} problem(s) in {files} file(s)", file=sys.stderr)
    if failed:
        return EXIT_INVALID
    if result.replaced:  # the same note as every other command (the catalog loads again: it is valid and cached)
        _registry(args, paths)
    print(f"ok: {len(result.files)} file(s), {len(result.specs)} database(s)")
    return EXIT_OK


def github_annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command: the problem shows on the file's line in a pull request."""

    def data(value: str) -> str:
        # Escape sequences in a file name or message would reach the log raw: the terminal escaping first.
        return text.terminal(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(value: str) -> str:
        return data(value).replace(":", "%3A").replace(",", "%2C")

    where = problem.as_dict()
    props = [f"file={prop(str(where['file']))}"] if where["file"] else []
    props += [f"{key}={where[name]}" for key, name in (("line", "line"), ("col", "column")) if where[name] is not None]
    props.append(f"title={prop(problem.rule)}")
    field = f"{problem.field}: " if problem.field else ""
    return f"::{problem.severity} {','.join(props)}::{data(field + problem.message)}"


def cmd_catalog_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    specs = registry.find(capability=args.capability, protocol=args.protocol, role=args.role)
    rows: list[dict[str, Any]] = [
        {
            "id": s.id,
            "name": s.name,
            "category": s.category,
            "protocols": list(s.protocols),
            "vector_search": s.capabilities.vector_search.support,
            "roles": list(s.workload.roles),
            "image": s.container.image_ref if s.container else None,
            "replaces": str(registry.replaced[s.id]) if s.id in registry.replaced else None,
        }
        for s in specs
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = [["ID", "NAME", "CATEGORY", "PROTOCOLS", "VECTOR", "IMAGE", "REPLACES"]]
    table += [
        [
            r["id"],
            r["name"],
            r["category"],
            ",".join(r["protocols"]),
            r["vector_search"],
            r["image"] or "(embedded)",
            "built-in" if r["replaces"] else "",
        ]
        for r in rows
    ]
    table = [[text.terminal(cell) for cell in row] for row in table]
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
    print(text.terminal(adapter.connection_string(args.form)))
    return EXIT_OK


def cmd_compose(args: argparse.Namespace) -> int:
    from dbstack.output import COMPOSE_FILE, ENV_FILE, MARKER, OutputFile, read_env, write_folder
    from dbstack.render.compose import dump_compose, env_var_name, render_service, resolve_secrets, use_secret_files
    from dbstack.render.digests import LOCK_FILE, load_lock, pin_images

    registry = _registry(args)
    spec = registry.spec(args.id)
    existing = read_env(args.output) if args.output else None
    resolved = resolve_secrets(
        registry.get_adapter(spec.id, parse_assignments(args.set or [])),
        spec.id,
        existing.as_dict() if existing is not None else None,
    )
    for name in resolved.overridden:
        print(
            f"dbstack: warning: kept {env_var_name(spec.id, name)} from {text.terminal(args.output / ENV_FILE)}; "
            f"--set {name} was ignored (the database was created with the kept value)",
            file=sys.stderr,
        )
    if args.target == "kubernetes":
        return _compose_kubernetes(args, spec.id, resolved.adapter, existing)
    service = render_service(resolved.adapter, args.env, tls_dir=args.tls_dir)
    assert spec.container is not None  # render_service refused an embedded entry
    service = use_secret_files(service, spec.container)
    document = service.document()
    if args.output:
        pin_images(document, load_lock(args.output / LOCK_FILE))
    compose_text = (
        f"{MARKER} Database: {spec.id}; environment: {args.env}.\n"
        f"# Secrets are referenced from .env: {', '.join(service.env_entries) or 'none'}"
        + (f" (files: {', '.join(service.secret_files)}, written from .env)" if service.secret_files else "")
        + ".\n"
        + dump_compose(document)
    )
    if not args.output:
        sys.stdout.write(compose_text)
        if service.env_entries:
            print(
                f"dbstack: the compose file reads {', '.join(service.env_entries)} from .env; write both with -o DIR",
                file=sys.stderr,
            )
        return EXIT_OK
    assert existing is not None
    report = write_folder(
        args.output,
        [OutputFile(COMPOSE_FILE, compose_text, owner=f"{MARKER} Database: {spec.id};")],
        service.env_entries,
        env_header=f"Added by dbstack for {spec.id}. Keep these values: the database was created with them.",
        existing=existing,
        secret_files=service.secret_files,
        force=args.force,
    )
    _print_report(report)
    return EXIT_OK


def _compose_kubernetes(args: argparse.Namespace, database: str, adapter: Any, existing: Any) -> int:
    """``dbstack compose ID --target kubernetes -o DIR``: a kustomize folder for one database."""
    from dbstack.output import MARKER, OutputFile, write_folder
    from dbstack.render import kubernetes
    from dbstack.render.compose import render_service
    from dbstack.render.digests import LOCK_FILE, load_lock, pin_images

    if args.output is None:
        raise DbstackError("--target kubernetes writes a kustomize folder: give it with -o DIR")
    if args.tls_dir is not None:
        raise DbstackError("--tls-dir is for compose; on Kubernetes use your cluster's certificates (see README)")
    if args.namespace is not None:
        namespace = kubernetes.validate_namespace(args.namespace)
    else:
        default = args.output.resolve().name
        namespace = kubernetes.validate_namespace(default, f"{args.output} (the namespace by default)")
    service = render_service(adapter, args.env)
    document = service.document()
    pin_images(document, load_lock(args.output / LOCK_FILE))
    workload = kubernetes.database_workload(adapter.spec, service)
    tree = kubernetes.render_tree([workload], args.env, namespace=namespace)
    owner = f"{MARKER} Kubernetes: {database};"
    header = f"{owner} environment: {args.env}; namespace: {namespace}."
    files = [
        OutputFile(name, text, 0o600 if name in tree.secret_files else 0o644, owner=owner)
        for name, text in tree.files(header).items()
    ]
    report = write_folder(
        args.output,
        files,
        service.env_entries,
        env_header=f"Added by dbstack for {database}. Keep these values: the database was created with them.",
        existing=existing,
        force=args.force,
    )
    _print_report(report)
    print(f"next: kubectl apply -k {text.shell_word(args.output)}")
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from dbstack.config_engine import DEFAULT_ENVIRONMENT, ConfigEngine, StackRequest
    from dbstack.stack_generator import StackGenerator

    use = _role_assignments(args.use or [])
    request = StackRequest(
        app=args.app,
        environment=args.env,
        use=use,
        without=frozenset(args.without or []),
        name=args.name,
        new_project=args.new_project,
        domain=args.domain,
        registration=args.registration,
        endpoints=tuple(dict.fromkeys(args.endpoint or [])),
        embeddings=args.embeddings,
        proxy=args.proxy,
    )
    folder = args.output or Path(f"{Path(args.app).stem}-{args.env or DEFAULT_ENVIRONMENT}")
    if args.target == "kubernetes":
        compose_only = [f"--{o.replace('_', '-')}" for o in COMPOSE_ONLY_GENERATE_OPTIONS if getattr(args, o, None)]
        if compose_only:
            raise DbstackError(f"{compose_only[0]} is for --target compose; on Kubernetes see README, Kubernetes")
    elif args.namespace is not None:
        raise DbstackError("--namespace is for --target kubernetes")
    generator = StackGenerator(ConfigEngine(_registry(args)))
    if args.target == "kubernetes":
        from dbstack.kubernetes_stack import write_kubernetes

        stack, existing = generator.prepare(request, folder, "kubernetes")
        report = write_kubernetes(
            stack, folder, namespace=args.namespace, force=args.force, existing=existing, new_project=args.new_project
        )
    else:
        report = generator.generate(request, folder, force=args.force)
    _print_report(report)
    if args.target == "kubernetes":
        print(f"next: kubectl apply -k {text.shell_word(folder)}")
    else:
        print(f"next: cd {text.shell_word(folder)} && docker compose up -d")
    for step in report.steps:
        print(f"then: {text.terminal(step)}")
    return EXIT_OK


def cmd_recommend(args: argparse.Namespace) -> int:
    from dbstack.config_engine import ConfigEngine

    engine = ConfigEngine(_registry(args))
    ranked = engine.recommend(args.app, args.role, args.env)
    if args.format == "json":
        print(json.dumps({role: [c.as_dict() for c in candidates] for role, candidates in ranked.items()}, indent=2))
        return EXIT_OK
    for role, candidates in ranked.items():
        print(f"{text.terminal(role)}:")
        if not candidates:
            print(f"  (no database in the catalog fits in {args.env})")
        for rank, candidate in enumerate(candidates, 1):
            default = " (default)" if candidate.default else ""
            print(f"  {rank}. {text.terminal(candidate.id)}{default}  score {candidate.score}")
            for reason in candidate.reasons:
                print(f"       + {text.terminal(reason)}")
            for tradeoff in candidate.tradeoffs:
                print(f"       - {text.terminal(tradeoff)}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from dbstack.config_engine import ConfigEngine
    from dbstack.demo import walk_catalog

    walk_catalog(ConfigEngine(_registry(args)), sys.stdout)
    return EXIT_OK


def _role_assignments(items: list[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for item in items:
        role, sep, database = item.partition("=")
        if not sep or not role or not database:
            raise DbstackError(f"--use expects ROLE=ID, got {item!r}")
        roles[role.strip()] = database.strip()
    return roles


def _print_report(report: WriteReport) -> None:
    """What was written, each path and name escaped: a folder name is the user's text, not the terminal's."""
    show = text.terminal
    for warning in report.warnings:
        print(f"dbstack: warning: {show(warning)}", file=sys.stderr)
    for path in report.written:
        print(f"wrote {show(path)}")
    for path in report.removed:
        print(f"removed {show(path)} (dbstack wrote it, unchanged since; the stack no longer has it)")
    if not report.written and not report.removed:
        print(f"{show(report.folder)}: already up to date")
    for backup in report.backups:
        print(f"backup {show(backup)}")
    if report.kept:
        print(f"kept existing .env values: {show(', '.join(report.kept))}")
    if report.added:
        print(f"new .env values (mode 0600): {show(', '.join(report.added))}")
    if report.to_fill:
        print(f"set in .env before starting (see README.md): {show(', '.join(report.to_fill))}")


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with the usage error on one line and exit code 2."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def path_argument(text: str) -> Path:
    """A folder or file argument; a NUL byte (which no file name can hold) is a usage error, not a crash."""
    if "\x00" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL byte")
    if not text:  # Path("") is the current folder: never written into by accident
        raise argparse.ArgumentTypeError("is empty: give a value or leave the option out")
    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="dbstack", description=__doc__)
    parser.add_argument(
        "--catalog",
        action="append",
        type=path_argument,
        metavar="DIR",
        help="add a catalog folder (repeatable; also DBSTACK_CATALOG_PATH)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    catalog = commands.add_parser("catalog", help="validate, list and show catalog entries")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True, parser_class=_ArgumentParser)
    validate = catalog_commands.add_parser("validate", help="check catalog files against the schema and each other")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="extra catalog files or folders")
    validate.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text: FILE:LINE:COL: field: message on stderr; json: every problem with its rule, severity and "
        "location on stdout; github: GitHub Actions annotations (::error file=...,line=...,col=...,title=DBS101::...)",
    )
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

    environments = environment_names()
    compose = commands.add_parser("compose", help="a compose file for one database")
    compose.add_argument("id", metavar="ID")
    compose.add_argument("--env", choices=environments, default="development")
    compose.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a parameter (repeatable)")
    compose.add_argument(
        "--tls-dir", type=path_argument, metavar="DIR", help="server.crt, server.key and ca.crt for server TLS"
    )
    compose.add_argument(
        "-o", "--output", type=path_argument, metavar="DIR", help="write compose.yaml and .env into DIR"
    )
    compose.add_argument("--force", action="store_true", help="replace files dbstack did not write (backups kept)")
    compose.add_argument(
        "--target", choices=("compose", "kubernetes"), default="compose", help="compose file or kustomize folder"
    )
    compose.add_argument("--namespace", metavar="NAME", help="Kubernetes namespace (default: the output folder's name)")
    compose.set_defaults(handler=cmd_compose)

    generate = commands.add_parser("generate", help="write a complete app stack: compose.yaml, .env, README.md")
    generate.add_argument("--app", default="librechat", help="built-in app id or path to an app YAML file")
    # No default: a regeneration keeps the stack's environment (a new stack gets development)
    generate.add_argument("--env", choices=environments, default=None)
    generate.add_argument("--use", action="append", metavar="ROLE=ID", help="database for a role (or auto)")
    generate.add_argument("--without", action="append", metavar="ROLE", help="leave an optional role out")
    generate.add_argument("-o", "--output", type=path_argument, metavar="DIR", help="output folder (default: APP-ENV)")
    generate.add_argument("--name", metavar="NAME", help="compose project name (default: from the output folder)")
    generate.add_argument(
        "--new-project",
        action="store_true",
        help="let --name/--namespace differ from the existing stack's (new, empty volumes; the old ones stay)",
    )
    generate.add_argument("--domain", metavar="URL", help="address users open (default http://localhost:3080)")
    generate.add_argument(
        "--registration", choices=("open", "closed"), help="sign-up (default: open in development, else closed)"
    )
    generate.add_argument(
        "--endpoint", action="append", metavar="PROVIDER", help="model provider to enable (repeatable)"
    )
    generate.add_argument("--embeddings", metavar="PROVIDER", help="rag_api embeddings provider (default openai)")
    generate.add_argument(
        "--proxy", choices=("caddy", "none"), help="TLS front for the https --domain (default: as before, else none)"
    )
    generate.add_argument("--force", action="store_true", help="replace files dbstack did not write (backups kept)")
    generate.add_argument(
        "--target", choices=("compose", "kubernetes"), default="compose", help="compose stack or kustomize folder"
    )
    generate.add_argument(
        "--namespace", metavar="NAME", help="Kubernetes namespace (default: the stack's name, --name or the folder's)"
    )
    generate.set_defaults(handler=cmd_generate)

    recommend = commands.add_parser("recommend", help="rank catalog databases for an app's roles")
    recommend.add_argument("--app", default="librechat")
    recommend.add_argument("--role", metavar="ROLE")
    recommend.add_argument(
        "--env",
        choices=environments,
        default="development",
        help="rank only databases this environment allows (default: development, as generate's)",
    )
    recommend.add_argument("--format", choices=("table", "json"), default="table")
    recommend.set_defaults(handler=cmd_recommend)

    demo = commands.add_parser("demo", help="walk every catalog entry: URLs, compose service, capabilities, fit")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _never_fail_to_print() -> None:
    """A terminal that cannot show a character gets its escape (``\\xe9``), not a crash after files were written."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # a StringIO (tests, embedding) has none
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is returned (see the module docstring), never raised."""
    _never_fail_to_print()
    try:
        status = _run(argv)
        sys.stdout.flush()  # now, not at interpreter exit where a closed pipe cannot be handled
        return status
    except BrokenPipeError:
        # The reader (``| head -1``) has all it wanted. Python flushes stdout again at exit and would
        # complain on stderr: point stdout at /dev/null so that last flush has somewhere to go.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        raise
    except DbstackError as exc:
        # One line per problem; a problem's own text (a path, a value) cannot start another line.
        problems = exc.problems if isinstance(exc, CatalogError) else str(exc).splitlines()
        for problem in problems:
            print(f"dbstack: error: {text.terminal(problem)}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:  # an output folder that is a file, unwritable, on a read-only disk ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dbstack: error: {text.terminal(where)}{text.terminal(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        print(f"dbstack: internal error: {_where(exc)}; {DEBUG_ENV}=1 shows the traceback", file=sys.stderr)
        return EXIT_INTERNAL


def _where(exc: BaseException) -> str:
    """The exception's type and the innermost dbstack line it came from: enough for a bug report.

    Its message is left out: it may quote a value, and values can be secrets.
    """
    place = ""
    for frame, line in traceback.walk_tb(exc.__traceback__):
        path = Path(frame.f_code.co_filename)
        if "dbstack" in path.parts:
            place = f" at {path.parent.name}/{path.name}:{line}"
    return text.terminal(f"{type(exc).__name__}{place}")


if __name__ == "__main__":
    sys.exit(main())
