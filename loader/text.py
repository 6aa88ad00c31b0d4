"""The one place that makes text safe for each place it is written to.

Catalog files, app definitions and folder names may come from strangers; whatever of them
reaches a comment, a README or the terminal must stay on its line and inside its value.
Each sink has one function here:

``visible``        any one-line text: control, format, separator and unassigned characters
                   become ``\\xNN`` / ``\\uNNNN`` escapes (newline, CR, ESC, U+0085, U+2028,
                   U+2029, bidi overrides, lone surrogates, ...).
``terminal``       a line for the terminal (the same as ``visible``).
``comment``        the text of a ``#`` comment line in YAML or .env.
``shell_word``     one shell word that stays on one line (``$'...'`` quoting when needed).
``markdown``       Markdown inline text (paragraph, list item): structure characters escaped.
``markdown_cell``  one cell of a Markdown table.
``markdown_code``  an inline code span that no backtick in the text can close.

Escapes read like Python's (``\\x1b``, ``\\u2028``; an undecodable byte kept by surrogateescape
is shown as the byte, ``\\xff``), and are also what bash's ``$'...'`` quoting reads.
"""

from __future__ import annotations

import re
import shlex
import unicodedata

# Control (Cc), format (Cf: bidi overrides, BOM, ...), surrogate (Cs), private use (Co), unassigned (Cn),
# line (Zl) and paragraph (Zp) separators: none of them may reach a written line as it is.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# ASCII punctuation: CommonMark lets every one of them be backslash-escaped, and some start structure.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


def _holds_hidden(text: str) -> bool:
    """Whether any character of ``text`` is hidden. str.isprintable() is false for every hidden category (it
    refuses all of C* and Z* but the ASCII space), so printable text, nearly all text, needs no lookup per character."""
    return not text.isprintable() and any(_is_hidden(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(value: object) -> str:
    """``value`` as one line of printable text: every hidden character becomes an escape."""
    text = str(value)
    if not _holds_hidden(text):
        return text
    return "".join(_escape(c) if _is_hidden(c) else c for c in text)


def terminal(value: object) -> str:
    """Text for one line of terminal output: no escape sequence, carriage return or line break gets through."""
    return visible(value)


def comment(value: object) -> str:
    """The text of a ``#`` comment line (YAML, .env): it cannot end the line or the comment."""
    return visible(value)


def shell_word(value: object) -> str:
    """One shell word on one line: ``shlex.quote``, or bash ``$'...'`` quoting when the text holds hidden characters."""
    text = str(value)
    if not _holds_hidden(text):
        return shlex.quote(text)
    body = "".join(_escape(c) if _is_hidden(c) else "\\" + c if c in "\\'" else c for c in text)
    return f"$'{body}'"


def markdown(value: object) -> str:
    """Markdown inline text: hidden characters escaped, every ASCII punctuation character backslash-escaped."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", visible(value))


def markdown_cell(value: object) -> str:
    """One Markdown table cell (``|`` is escaped with the rest of the punctuation)."""
    return markdown(value)


def markdown_code(value: object, *, in_table: bool = False) -> str:
    """An inline code span around ``value``: the fence is longer than any run of backticks inside.

    In a table ``|`` is escaped: GitHub tables split cells on it even inside code spans.
    """
    text = visible(value).replace("|", "\\|") if in_table else visible(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_escape(char: str, *, astral: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    if astral == "pair":  # JSON has no 8-digit escape: a UTF-16 surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\U{code:08x}"


def json_for_terminal(dumped: str) -> str:
    """JSON text (as json.dumps writes it) with every hidden character as a ``\\u`` escape: the same JSON.

    Hidden characters can only be inside JSON strings, where the escape means the character itself; the
    line breaks between JSON's lines are its own (json.dumps escapes those inside strings).
    """
    return "".join(_code_escape(c, astral="pair") if c != "\n" and _is_hidden(c) else c for c in dumped)


def yaml_for_terminal(dumped: str) -> str:
    """YAML text whose strings holding hidden characters were dumped double-quoted (see ``needs_quotes``),
    with every hidden character but the dumper's own line breaks as a ``\\u``/``\\U`` escape: the same YAML."""
    return "".join(_code_escape(c, astral="long") if c != "\n" and _is_hidden(c) else c for c in dumped)


def needs_quotes(value: str) -> bool:
    """Whether a YAML string must be double-quoted so that its hidden characters can be escaped."""
    return _holds_hidden(value)
