"""The catalog rules checked on what Compose gets: rendered healthchecks and command lines.

Each hostile entry is the built-in redis entry with one field changed, written as YAML and
loaded as a user catalog file. Every test asserts the exact located problem
(``FILE:LINE:COL: field: message``), the line and column being found in the written text
independently of the loader; one bypass per test case.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbstack.loader import load_catalog
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.rules import RULES
from dbstack.loader.validation import healthcheck_problems, program_names

REDIS: dict[str, Any] = yaml.safe_load((BUILTIN_CATALOG / "redis.yaml").read_text(encoding="utf-8"))
NO_TOOLS = {"shell": False, "curl": False, "wget": False}
ALL_TOOLS = {"shell": True, "curl": True, "wget": True}

SECRET_ADVICE = (
    'pass it through the environment instead: map it in container.environment (VAR: "{{ password }}") and '
    'expand "$$VAR" at run time inside ["sh", "-c", "exec program --option \\"$$VAR\\" \\"$$@\\"", "name"], '
    "as catalog/redis.yaml does"
)
VISIBLE = "(visible in the compose file, docker inspect and ps)"
HEALTHCHECK_ADVICE = (
    "read it from the environment: list the variable its client reads in healthcheck.credentials_from, "
    'or expand "$$VAR" in a shell'
)
ALL_MODES = "disable, require, verify-ca, verify-full"


def unauthenticated(modes: str = ALL_MODES, holders: str = "REDISCLI_AUTH") -> str:
    return (
        f"cannot fail on a wrong secret with tls={modes}: it uses none of the container variables that hold one "
        f'({holders}); expand one in a shell ("$$VAR") or list the ones its client reads in '
        "healthcheck.credentials_from"
    )


def hostile(changes: dict[str, Any]) -> dict[str, Any]:
    """The redis entry as a user file ``hostile.yaml``, with container fields replaced (None removes one)."""
    data = copy.deepcopy(REDIS)
    data["id"] = "hostile"
    del data["aliases"]
    container = data["container"]
    for key, value in changes.items():
        target, _, field = key.rpartition(".")
        where = container
        for part in filter(None, target.split(".")):
            where = where.setdefault(part, {})
        if value is None:
            where.pop(field, None)
        else:
            where[field] = value
    return data


def located(text: str, path: str) -> str:
    """LINE:COL of ``container.a.b[.N]`` in YAML written by yaml.safe_dump (one list item per line),
    found by reading the text: keys by their indentation, list items by counting lines."""
    lines = text.splitlines()
    *keys, last = path.split(".")
    index = int(last) if last.isdigit() else None
    if index is None:
        keys.append(last)
    row, indent = -1, -2
    for key in keys:
        indent += 2
        row = next(i for i in range(row + 1, len(lines)) if lines[i].startswith(" " * indent + f"{key}:"))
    item = lines[row + 1]
    dash = len(item) - len(item.lstrip())
    assert item.lstrip().startswith("- "), f"{path} is not a block list in the text"
    if index is None:  # the list itself starts at its first dash
        return f"{row + 2}:{dash + 1}"
    return f"{row + 2 + index}:{dash + 3}"


def problems(tmp_path: Path, data: dict[str, Any]) -> tuple[list[str], str, Path]:
    path = tmp_path / f"{data['id']}.yaml"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)
    path.write_text(text, encoding="utf-8")
    return [str(p) for p in load_catalog([path], builtin=False).problems], text, path


def expect(tmp_path: Path, data: dict[str, Any], *expected: tuple[str, str, str]) -> None:
    """Exactly these problems: (field, path to locate it by, message)."""
    found, text, file = problems(tmp_path, data)
    wanted = [f"{file}:{located(text, where)}: {field}: {message}" for field, where, message in expected]
    assert found == wanted


# --------------------------------------------------------------------------- the built-in entries


def test_every_builtin_entry_passes_the_rendered_rules() -> None:
    result = load_catalog()
    assert [str(p) for p in result.problems] == []
    assert len(result.specs) >= 8


def test_the_unchanged_entry_passes(tmp_path: Path) -> None:
    found, _, _ = problems(tmp_path, hostile({}))
    assert found == []


# --------------------------------------------------------------------------- a) no secret on a command line


@pytest.mark.parametrize(
    "argument",
    [
        "{{ password }}",
        "--requirepass={{ password }}",  # embedded in a longer argument
        "{{ password | upper }}",  # transformed
        "{{ '--pass=' ~ password }}",  # concatenated
        "{{ password[1:] }}",  # sliced
        "{{ password if tls == 'verify-full' else '' }}",  # only in one tls mode
        "{% if options %}{{ password }}{% endif %}",  # only when an optional parameter is set
        "{{ [username, password] | last }}",  # through a list
    ],
)
def test_secret_in_the_command_is_refused(tmp_path: Path, argument: str) -> None:
    data = hostile({"command": ["redis-server", "--requirepass", argument]})
    expect(
        tmp_path,
        data,
        (
            "container.command.2",
            "container.command.2",
            f"secret parameter 'password' reaches the container command {VISIBLE}; {SECRET_ADVICE}",
        ),
    )


def test_secret_in_the_tls_command_is_refused(tmp_path: Path) -> None:
    tls_command = [*REDIS["container"]["tls"]["command"], "--tls-key-file-pass", "{{ password }}"]
    index = len(tls_command) - 1
    expect(
        tmp_path,
        hostile({"tls.command": tls_command}),
        (
            f"container.tls.command.{index}",
            f"container.tls.command.{index}",
            f"secret parameter 'password' reaches the container command (tls.command) {VISIBLE}; {SECRET_ADVICE}",
        ),
    )


def test_secret_in_the_healthcheck_is_refused(tmp_path: Path) -> None:
    test = ["CMD", "redis-cli", "-e", "-a", "{{ password }}", "-h", "127.0.0.1", "ping"]
    expect(
        tmp_path,
        hostile({"healthcheck.test": test, "healthcheck.credentials_from": None}),
        (
            "container.healthcheck.test.4",
            "container.healthcheck.test.4",
            f"secret parameter 'password' reaches the healthcheck {VISIBLE}; {HEALTHCHECK_ADVICE}",
        ),
        ("container.healthcheck.test", "container.healthcheck.test", unauthenticated()),
    )


def test_compose_variable_on_the_command_line_is_refused(tmp_path: Path) -> None:
    """A ${VAR} typed by hand would put the .env value on the command line just the same."""
    data = hostile({"command": ["redis-server", "--requirepass", "${REDIS_PASSWORD:?set it}"]})
    expect(
        tmp_path,
        data,
        (
            "container.command.2",
            "container.command.2",
            "reads the compose variable ${REDIS_PASSWORD:?set it} (a .env value on the command line); "
            "write $$ for a literal $",
        ),
    )


@pytest.mark.parametrize(
    "fragment",
    [
        'command: ["redis-server", "--requirepass", "{{ password }}"]\n',
        "entrypoint: redis-server --requirepass {{ password }}\n",  # the string form
        "command:\n  - redis-server\n  - '{{ password | lower }}'\n",
    ],
)
def test_secret_in_a_fragment_command_is_refused(tmp_path: Path, fragment: str) -> None:
    data = hostile({"compose_fragment": fragment})
    found, text, file = problems(tmp_path, data)
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("  compose_fragment:"))) + 1
    assert found == [
        f"{file}:{line}:21: container.compose_fragment: secret parameter 'password' reaches the fragment's "
        f"command or entrypoint; {SECRET_ADVICE}"
    ]


INVALID = r"renders invalid YAML \(line 2 of the rendered text\):"
INVALID_ANYWHERE = r"renders invalid YAML .*"


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("privileged: true\n", "may not set privileged; allowed: command, "),
        # behind a tls mode: refused whatever the values, as the rendering refuses it with them
        ("{% if tls == 'verify-full' %}cap_add: [ALL]\n{% endif %}labels: {a: b}\n", "may not set cap_add; allowed: "),
        ("command: [unclosed\n", rf"{INVALID} while parsing a flow sequence.* with the default values$"),
        ("labels: {a: b}\nlabels: {c: d}\n", rf"{INVALID} duplicate key 'labels' .*with the default values$"),
        ("- a\n- b\n", "must render a mapping with the default values$"),
        ("# nothing\n", "renders an empty text, not a mapping with the default values$"),
        # broken in one tls mode only: the mode is named
        ("init: true\n{% if tls == 'verify-full' %}user: [{% endif %}", rf"{INVALID_ANYWHERE} and tls=verify-full$"),
    ],
)
def test_a_fragment_the_rendering_refuses_is_reported_where_it_stands(
    tmp_path: Path, fragment: str, message: str
) -> None:
    """`catalog validate` finds what `compose` would refuse in a rendered fragment (it said ok before)."""
    found, text, file = problems(tmp_path, hostile({"compose_fragment": fragment}))
    assert len(found) == 1
    assert re.match(
        rf"{re.escape(str(file))}:{value_position(text, 'compose_fragment')}: container\.compose_fragment: {message}",
        found[0],
    ), found


def test_secret_through_the_environment_and_a_shell_is_the_way(tmp_path: Path) -> None:
    """redis.yaml's own command: the secret is a variable the shell expands in the container."""
    assert "$$REDISCLI_AUTH" in REDIS["container"]["command"][2]
    found, _, _ = problems(tmp_path, hostile({}))
    assert found == []


# --------------------------------------------------------------------------- b) the healthcheck as rendered


def shell_less(test: list[str], **image_has: bool) -> dict[str, Any]:
    """The redis entry in an image without shell, curl or wget (unless ``image_has`` says so),
    with ``test`` as its healthcheck and REDISCLI_AUTH still read by the client."""
    return hostile({"healthcheck.test": test, "image_has": {**NO_TOOLS, **image_has}})


@pytest.mark.parametrize(
    ("test", "shell"),
    [
        (["CMD-SHELL", "redis-cli -e ping"], "CMD-SHELL"),
        (["CMD", "sh", "-c", "redis-cli -e ping"], "sh"),
        (["CMD", "/bin/sh", "-c", "redis-cli -e ping"], "sh"),
        (["CMD", "env", "sh", "-c", "redis-cli -e ping"], "sh"),
        (["CMD", "/usr/bin/env", "-S", "bash -c 'redis-cli -e ping'"], "bash"),
        (["CMD", "exec", "dash", "-c", "redis-cli -e ping"], "dash"),
        (["CMD", "nice", "-n", "5", "ash", "-c", "redis-cli -e ping"], "ash"),
        (["CMD", "timeout", "3", "bash5.2", "-c", "redis-cli -e ping"], "bash5.2"),
        (["CMD", "busybox", "sh", "-c", "redis-cli -e ping"], "sh"),
        (["CMD", "{{ 's' ~ 'h' }}", "-c", "redis-cli -e ping"], "sh"),  # built by the template
        (["CMD", "{{ 'redis-cli' if tls == 'disable' else 'zsh' }}", "-e", "ping"], "zsh"),  # one mode only
    ],
)
def test_a_shell_the_image_lacks_is_found_in_any_word(tmp_path: Path, test: list[str], shell: str) -> None:
    data = shell_less(test)
    expect(
        tmp_path,
        data,
        (
            "container.healthcheck.test",
            "container.healthcheck.test",
            f"runs a shell ({shell}), and image_has.shell is false",
        ),
    )


@pytest.mark.parametrize(
    ("test", "tool", "names"),
    [
        (["CMD", "{{ 'cu' ~ 'rl' }}", "-f", "http://127.0.0.1:6379/"], "curl", "curl"),
        (["CMD", "/usr/bin/curl", "-f", "http://127.0.0.1:6379/"], "curl", "curl"),
        (["CMD", "busybox", "wget", "-q", "http://127.0.0.1:6379/"], "wget", "wget"),
        (
            ["CMD", "redis-cli", "{{ '--x' if tls_ca_file else '' }}", "{{ 'wget' if tls_ca_file else '' }}"],
            "wget",
            "wget",
        ),
        (["CMD", "env", "{{ 'WGET' | lower }}2", "http://x/"], "wget", "wget2"),
    ],
)
def test_an_http_client_the_image_lacks_is_found_as_rendered(
    tmp_path: Path, test: list[str], tool: str, names: str
) -> None:
    expect(
        tmp_path,
        shell_less(test),
        (
            "container.healthcheck.test",
            "container.healthcheck.test",
            f"uses {tool} ({names}), and image_has.{tool} is false",
        ),
    )


@pytest.mark.parametrize(
    "script",
    [
        "c'u'rl -f http://127.0.0.1:6379/ && redis-cli -e ping",  # quotes a shell removes
        "c\\url -f http://127.0.0.1:6379/ && redis-cli -e ping",  # a backslash a shell removes
        "$(echo curl) -f http://127.0.0.1:6379/ && redis-cli -e ping",  # command substitution
        "$${X:-curl} -f http://127.0.0.1:6379/ && redis-cli -e ping",  # a default value
        "redis-cli -e ping;curl -f http://127.0.0.1:6379/",  # after an operator
    ],
)
def test_curl_inside_a_shell_script_is_found(tmp_path: Path, script: str) -> None:
    expect(
        tmp_path,
        shell_less(["CMD-SHELL", script], shell=True),
        ("container.healthcheck.test", "container.healthcheck.test", "uses curl (curl), and image_has.curl is false"),
    )


WRAPPERS: tuple[list[str], ...] = (
    [],
    ["env"],
    ["exec"],
    ["nice", "-n", "5"],
    ["timeout", "3"],
    ["busybox"],
    ["/usr/bin/env", "-i"],
)
SHELL_FORMS = ("sh", "/bin/sh", "bash", "/usr/bin/bash", "dash", "ash", "/bin/busybox sh")


@pytest.mark.parametrize(("wrapper", "shell"), list(itertools.product(WRAPPERS, SHELL_FORMS)))
def test_every_wrapper_and_shell_combination(wrapper: list[str], shell: str) -> None:
    test = ["CMD", *wrapper, *shell.split(), "-c", "true"]
    name = shell.split()[-1].rsplit("/", 1)[-1]
    assert healthcheck_problems(test, NO_TOOLS) == [f"runs a shell ({name}), and image_has.shell is false"]
    assert healthcheck_problems(test, ALL_TOOLS) == []


@pytest.mark.parametrize(
    "test",
    [
        ["CMD", "redis-cli", "-e", "--no-auth-warning", "-h", "127.0.0.1", "ping"],
        ["CMD", "pg_isready", "--host=127.0.0.1", "--username=shelly"],  # 'shelly' is not a shell
        ["CMD", "mongosh", "--eval", "quit(0)"],
        ["CMD", "curly-tool", "--wget-like"],  # names that only contain curl/wget
    ],
)
def test_a_plain_exec_test_is_not_mistaken_for_a_shell(test: list[str]) -> None:
    assert healthcheck_problems(test, NO_TOOLS) == []


def test_program_names_reads_words_as_a_shell_would() -> None:
    assert program_names("c'u'rl -f x") == ("curl", "f", "x")
    assert program_names("/usr/bin/env -S 'sh -c true'") == ("env", "S", "sh", "c", "true")
    assert program_names('unbalanced "quote curl') == ("unbalanced", "quote", "curl")


def test_an_empty_rendered_test_is_refused(tmp_path: Path) -> None:
    data = shell_less(["CMD", "{{ '' }}"])
    expect(
        tmp_path,
        data,
        ("container.healthcheck.test", "container.healthcheck.test", "renders no program to run"),
    )


# --------------------------------------------------------------------------- c) the healthcheck must use the secret


def test_a_healthcheck_that_never_reads_the_secret_is_refused(tmp_path: Path) -> None:
    data = hostile({"healthcheck.credentials_from": None})
    expect(tmp_path, data, ("container.healthcheck.test", "container.healthcheck.test", unauthenticated()))


def test_a_healthcheck_that_reads_the_secret_only_without_tls_is_refused(tmp_path: Path) -> None:
    script = (
        "{% if tls == 'disable' %}REDISCLI_AUTH=\"$$REDISCLI_AUTH\" {% endif %}"
        "redis-cli -e --no-auth-warning -h 127.0.0.1 ping"
    )
    data = hostile({"healthcheck.test": ["CMD-SHELL", script], "healthcheck.credentials_from": None})
    expect(
        tmp_path,
        data,
        (
            "container.healthcheck.test",
            "container.healthcheck.test",
            unauthenticated("require, verify-ca, verify-full"),
        ),
    )


def test_a_shell_that_expands_the_secret_variable_passes(tmp_path: Path) -> None:
    script = 'redis-cli -e --no-auth-warning --pass "$$REDISCLI_AUTH" -h 127.0.0.1 ping'
    found, _, _ = problems(
        tmp_path, hostile({"healthcheck.test": ["CMD-SHELL", script], "healthcheck.credentials_from": None})
    )
    assert found == []


def test_credentials_from_must_name_a_variable_that_holds_a_secret(tmp_path: Path) -> None:
    data = hostile({"healthcheck.credentials_from": ["REDISCLI_AUTH", "DBSTACK_REDIS_PORT", "MISSING_VAR"]})
    data["container"]["environment"]["DBSTACK_REDIS_PORT"] = "{{ port }}"
    expect(
        tmp_path,
        data,
        (
            "container.healthcheck.credentials_from.1",
            "container.healthcheck.credentials_from.1",
            "DBSTACK_REDIS_PORT holds no secret parameter",
        ),
        (
            "container.healthcheck.credentials_from.2",
            "container.healthcheck.credentials_from.2",
            "MISSING_VAR is not in container.environment",
        ),
    )


def test_a_file_variants_group_without_file_variants_is_refused(tmp_path: Path) -> None:
    """The group says who reads the *_FILE variables: with none named it would silently do nothing."""
    found, _, file = problems(tmp_path, hostile({"file_variants_group": 999}))
    assert len(found) == 1
    assert re.fullmatch(
        rf"{re.escape(str(file))}:\d+:\d+: container\.file_variants_group: "
        r"is set, but no file_variants name a variable read from a file",
        found[0],
    ), found
    data = hostile({"file_variants_group": 999})
    data["container"]["file_variants"] = {"REDISCLI_AUTH": "REDISCLI_AUTH_FILE"}
    assert problems(tmp_path, data)[0] == []


def test_credentials_from_a_non_secret_variable_does_not_authenticate(tmp_path: Path) -> None:
    data = hostile({"healthcheck.credentials_from": ["DBSTACK_REDIS_USER_COPY"]})
    data["container"]["environment"]["DBSTACK_REDIS_USER_COPY"] = "{{ username }}"
    expect(
        tmp_path,
        data,
        (
            "container.healthcheck.credentials_from.0",
            "container.healthcheck.credentials_from.0",
            "DBSTACK_REDIS_USER_COPY holds no secret parameter",
        ),
        ("container.healthcheck.test", "container.healthcheck.test", unauthenticated()),
    )


def test_a_variable_in_an_exec_form_test_is_not_expanded(tmp_path: Path) -> None:
    test = ["CMD", "redis-cli", "-e", "--pass", "$$REDISCLI_AUTH", "ping"]
    expect(
        tmp_path,
        hostile({"healthcheck.test": test, "healthcheck.credentials_from": None}),
        (
            "container.healthcheck.test",
            "container.healthcheck.test",
            "writes $$REDISCLI_AUTH, but runs no shell to expand it "
            "(use CMD-SHELL, or credentials_from when the client reads the variable itself)",
        ),
        ("container.healthcheck.test", "container.healthcheck.test", unauthenticated()),
    )


def test_an_entry_without_secrets_needs_no_authentication(tmp_path: Path) -> None:
    data = hostile({"healthcheck.credentials_from": None, "environment": {}, "command": ["redis-server"]})
    data["parameters"]["password"] = {"type": "string", "default": "", "description": "Not used."}
    data["connection_strings"]["forms"]["uri"]["template"] = "redis://{{ host }}:{{ port }}/{{ database }}"
    found, _, _ = problems(tmp_path, data)
    assert found == []


# --------------------------------------------------------------------------- parameter defaults


@pytest.mark.parametrize(
    ("default", "told"),
    [
        ({"a": "x", "b": ["x", "y"]}, "['b'] is list ['x', 'y']"),
        ({"a": {"deep": "x"}}, "['a'] is dict {'deep': 'x'}"),
        ({"a": 1}, "['a'] is int 1"),
    ],
)
def test_a_mapping_default_names_the_value_that_is_not_text(tmp_path: Path, default: Any, told: str) -> None:
    data = hostile({})
    data["parameters"]["options"] = {"type": "mapping", "default": default, "description": "Extra options."}
    found, _, file = problems(tmp_path, data)
    assert len(found) == 1 and found[0].startswith(f"{file}:"), found
    assert found[0].split(": ", 1)[1] == (
        f"parameters.options.default: default does not fit: expected mapping of text to text, but {told}"
    )


# --------------------------------------------------------------------------- d) a healthcheck that cannot fail

NEVER_FAILS = "cannot fail at all: {}; a healthcheck must fail when the server does not answer"
SWALLOWS = "it ends with {!r}, which swallows any failure before it"
CLIENT = "redis-cli -e --no-auth-warning -h 127.0.0.1 ping"


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        (["CMD", "true"], "its last command is 'true'"),
        (["CMD", "/bin/true"], "its last command is 'true'"),
        (["CMD", "env", "-i", "A=b", "timeout", "5", "true"], "its last command is 'true'"),
        (["CMD", "sh", "-c", ":"], "its last command is ':'"),
        (["CMD-SHELL", "exit 0"], "its last command is 'exit 0'"),
        (["CMD-SHELL", f"{CLIENT} || true"], SWALLOWS.format("|| true")),
        (["CMD-SHELL", f"{CLIENT} || :"], SWALLOWS.format("|| :")),
        (["CMD-SHELL", f"{CLIENT} || exit 0"], SWALLOWS.format("|| exit 0")),
        (["CMD-SHELL", f"{CLIENT}; exit 0"], SWALLOWS.format("; exit 0")),
        (["CMD-SHELL", f"{CLIENT}\nexit 00"], SWALLOWS.format("; exit 00")),
        (["CMD-SHELL", f"({CLIENT} || /bin/true)"], SWALLOWS.format("|| true")),
        (["CMD-SHELL", f"{CLIENT} | true"], SWALLOWS.format("| true")),
        (["CMD-SHELL", f"sh -ec '{CLIENT} || exec true'"], SWALLOWS.format("|| true")),
        (["CMD", "bash", "-c", f"{CLIENT} || \"tr\"'ue'"], SWALLOWS.format("|| true")),
    ],
)
def test_a_healthcheck_that_cannot_fail_is_refused(tmp_path: Path, test: list[str], reason: str) -> None:
    # The client reads the password (credentials_from stays): only "cannot fail" is wrong with these.
    problems_found, _, _ = problems(tmp_path, hostile({"healthcheck.test": test}))
    messages = [p.split(": container.healthcheck.test: ", 1)[1] for p in problems_found]
    assert messages[0] == NEVER_FAILS.format(reason), problems_found


@pytest.mark.parametrize(
    "test",
    [
        ["CMD-SHELL", f"{CLIENT} && exit 0"],  # exit 0 only once the client succeeded
        ["CMD-SHELL", f"{CLIENT} || exit 1"],
        ["CMD-SHELL", f"true; {CLIENT}"],
        ["CMD", "redis-cli", "-e", "ping", "||", "true"],  # no shell: '||' and 'true' are redis-cli's arguments
    ],
)
def test_a_healthcheck_that_can_fail_passes(tmp_path: Path, test: list[str]) -> None:
    found, _, _ = problems(tmp_path, hostile({"healthcheck.test": test}))
    assert found == []


@pytest.mark.parametrize(
    ("test", "programs"),
    [
        (["CMD-SHELL", 'echo "$$REDISCLI_AUTH" >/dev/null'], "echo"),
        (["CMD-SHELL", 'printf %s "$$REDISCLI_AUTH" | test -n "$$REDISCLI_AUTH"'], "printf, test"),
        (["CMD", "sh", "-c", '[ -n "$$REDISCLI_AUTH" ]'], "["),
    ],
)
def test_a_secret_read_only_by_echo_or_test_does_not_authenticate(
    tmp_path: Path, test: list[str], programs: str
) -> None:
    for credentials in (None, ["REDISCLI_AUTH"]):  # expanded by the shell, and said to be read by the client
        data = hostile({"healthcheck.test": test, "healthcheck.credentials_from": credentials})
        expect(
            tmp_path,
            data,
            (
                "container.healthcheck.test",
                "container.healthcheck.test",
                f"cannot fail on a wrong secret: it runs no program but {programs}, which succeed whatever the "
                "secret holds; the secret must reach a client that logs in to the server",
            ),
        )


def test_the_reported_bypasses_are_refused(tmp_path: Path) -> None:
    exec_true, _, _ = problems(tmp_path, hostile({"healthcheck.test": ["CMD", "true"]}))
    echo_exit, _, _ = problems(
        tmp_path,
        hostile(
            {
                "healthcheck.test": ["CMD-SHELL", "echo $$REDISCLI_AUTH >/dev/null; exit 0"],
                "healthcheck.credentials_from": None,
            }
        ),
    )
    assert [p.split(": ", 2)[2] for p in exec_true] == [
        NEVER_FAILS.format("its last command is 'true'"),
        "cannot fail on a wrong secret: it runs no program but true, which succeed whatever the secret holds; "
        "the secret must reach a client that logs in to the server",
    ]
    assert [p.split(": ", 2)[2] for p in echo_exit] == [
        NEVER_FAILS.format(SWALLOWS.format("; exit 0")),
        "cannot fail on a wrong secret: it runs no program but echo, exit, which succeed whatever the secret holds; "
        "the secret must reach a client that logs in to the server",
    ]


# --------------------------------------------------------------------------- e) only the entry's own ${VAR}

FOREIGN = (
    "the service would read compose variables it does not own: {} "
    "(catalog text is compose text: write $$ for a literal $)"
)


def value_position(text: str, key: str) -> str:
    """LINE:COL of the value of the (only) ``key:`` line in the text."""
    row = next(i for i, line in enumerate(text.splitlines()) if line.lstrip().startswith(f"{key}:"))
    line = text.splitlines()[row]
    return f"{row + 1}:{len(line) - len(line.lstrip()) + len(key) + 3}"


@pytest.mark.parametrize(
    ("where", "value", "foreign"),
    [
        ("environment", "$\u017f and ${JWT_SECRET}", "$JWT_SECRET, $\u017f"),
        ("environment", "{{ '$' ~ '{CREDS_KEY}' }}", "$CREDS_KEY"),  # built while rendering
        ("environment", "{% if tls != 'disable' %}$MONGODB_PASSWORD{% endif %}", "$MONGODB_PASSWORD"),
        ("tls.environment", "${HOME:-x}", "$HOME"),
    ],
)
def test_a_foreign_reference_in_the_environment_is_located(
    tmp_path: Path, where: str, value: str, foreign: str
) -> None:
    data = hostile({})
    target = data["container"]
    for part in where.split("."):
        target = target.setdefault(part, {})
    target["FOREIGN_READER"] = value
    found, text, file = problems(tmp_path, data)
    assert found == [
        f"{file}:{value_position(text, 'FOREIGN_READER')}: container.{where}.FOREIGN_READER: {FOREIGN.format(foreign)}"
    ]


def test_a_foreign_reference_in_a_fragment_is_refused(tmp_path: Path) -> None:
    data = hostile({"compose_fragment": "labels:\n  owner: ${JWT_SECRET}\n  price: $$5\n"})
    found, text, file = problems(tmp_path, data)
    where = value_position(text, "compose_fragment")
    assert found == [f"{file}:{where}: container.compose_fragment: {FOREIGN.format('$JWT_SECRET')}"]


def test_own_secret_references_and_literal_dollars_pass(tmp_path: Path) -> None:
    data = hostile({"environment.REDIS_COPY": "{{ password }}", "environment.PRICE": "$$5 and $${HOME}"})
    found, _, _ = problems(tmp_path, data)
    assert found == []


def test_a_dollar_in_a_parameter_default_is_a_literal_not_a_reference(tmp_path: Path) -> None:
    # compose escapes every value it passes ($ -> $$), nested ones too: validate renders them the same way
    data = hostile({"environment.OPTIONS": "{{ options }}", "environment.LABEL": "{{ label }}"})
    data["parameters"]["options"] = {"type": "mapping", "default": {"k": "${JWT_SECRET}"}, "description": "Options."}
    data["parameters"]["label"] = {"type": "string", "default": "$\u017f${CREDS_KEY}", "description": "A label."}
    found, _, _ = problems(tmp_path, data)
    assert found == []


# --- the rule list, its documentation and the machine-readable reports --------------------------------------


def test_catalog_readme_documents_exactly_the_rules() -> None:
    readme = (Path(__file__).resolve().parent.parent / "catalog" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(DBS\d{3})` \| ([^|]+) \| (error|warning) \| ([^|]+) \|$", readme, re.MULTILINE)
    documented = [(rule, name.strip(), severity, summary.strip()) for rule, name, severity, summary in rows]
    assert documented == [(r.id, r.name, r.severity, r.summary) for r in RULES]


def test_validate_reports_rule_severity_and_location_as_json_and_github(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "broken.yaml").write_text("id: broken\nname: [\n", encoding="utf-8")
    (folder / "redis2.yaml").write_text(yaml.safe_dump(REDIS, sort_keys=False), encoding="utf-8")
    dbstack = str(Path(sys.executable).parent / "dbstack")
    as_json = subprocess.run(
        [dbstack, "catalog", "validate", str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert as_json.returncode == 1, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "rule": "DBS001",
            "severity": "error",
            "file": str(folder / "broken.yaml"),
            "line": 3,
            "column": 1,
            "path": "",
            "message": "invalid YAML: while parsing a flow node did not find expected node content",
        },
        {
            "rule": "DBS102",
            "severity": "error",
            "file": str(folder / "redis2.yaml"),
            "line": 1,
            "column": 5,
            "path": "id",
            "message": "id 'redis' must equal the file name 'redis2'",
        },
    ]
    github = subprocess.run(
        [dbstack, "catalog", "validate", str(folder), "--format", "github"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert github.returncode == 1
    assert github.stdout.splitlines() == [
        f"::error file={folder / 'broken.yaml'},line=3,col=1,title=DBS001::invalid YAML: while parsing a flow node "
        "did not find expected node content",
        f"::error file={folder / 'redis2.yaml'},line=1,col=5,title=DBS102::id: id 'redis' must equal the file name "
        "'redis2'",
    ]


def test_github_annotations_carry_no_escape_sequence(tmp_path: Path) -> None:
    """A file name holding ESC reaches the workflow log as a visible escape, not as a terminal sequence."""
    folder = tmp_path / "catalog\x1b[2J"
    folder.mkdir()
    (folder / "broken.yaml").write_text("id: broken\nname: [\n", encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbstack"), "catalog", "validate", str(folder), "--format", "github"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("::error file="), result.stdout
    assert "\x1b" not in result.stdout
