"""dump_compose writes with libyaml's emitter where it writes PyYAML's very bytes, and with PyYAML's elsewhere.

compose.yaml is compared byte for byte on every regeneration (an unchanged stack is "already up to date") and read
by people: the faster emitter must never change a byte of it. Generated documents mix the text where the two
emitters agree (printable ASCII) with the text where they do not (characters beyond U+FFFF, control characters,
U+0085, long escaped strings, empty keys and keys of 128 characters); the output must be the Python emitter's.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dbstack.render import compose
from dbstack.render.compose import dump_compose

# Characters where the emitters agree, and a few of each kind where they do not.
AGREE = [chr(c) for c in range(0x20, 0x7F)]
DIFFER = ["\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\xa0", "é", "\u2028", "\ufeff", "\U0001f600"]


# One character of DIFFER (or none) per document: a document holding two kinds would often go to the Python
# emitter for the one kind the guard knows, hiding the other.
ODD = st.shared(st.sampled_from(["", *DIFFER]), key="odd")


def texts(lengths: list[int]) -> st.SearchStrategy[str]:
    """Text of one of ``lengths``: a short piece of printable ASCII, maybe with the document's odd character,
    repeated (drawing thousands of characters one by one is slow)."""

    def repeat(piece: str, odd: str, with_odd: bool, length: int) -> str:
        return ((piece + odd * with_odd) * length)[:length]

    ascii_pieces = st.text(st.sampled_from(AGREE), min_size=1, max_size=12)
    return st.builds(repeat, ascii_pieces, ODD, st.booleans(), st.sampled_from(lengths))


KEYS = texts([0, 1, 5, 40, 99, 100, 122, 123, 128])
VALUES = st.one_of(
    texts([0, 1, 8, 100, 999, 1001, 2500]),
    st.sampled_from(["yes", "null", "~", "-", "0o17", "1e3", " x", "x ", "a: b", "#x", "x\n", "'", '"', "&a", "!x"]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
DOCUMENTS = st.recursive(
    VALUES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


def python_emitter(document: dict[str, Any]) -> str:
    """What dump_compose wrote before libyaml: the same representer and options, PyYAML's own emitter."""
    return yaml.dump(
        document, Dumper=compose._ExactDumper, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False
    )


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, DOCUMENTS, min_size=1, max_size=4))
def test_dump_compose_writes_the_python_emitters_bytes(document: dict[str, Any]) -> None:
    assert dump_compose(document) == python_emitter(document)


def test_a_librechat_stack_takes_libyaml(tmp_path: Any) -> None:
    """The speed-up reaches the document generate writes (its text is printable ASCII)."""
    from dbstack.cli import main

    assert main(["generate", "--env", "production", "-o", str(tmp_path / "stack")]) == 0
    document = yaml.safe_load((tmp_path / "stack" / "compose.yaml").read_text(encoding="utf-8"))
    assert compose._FAST_DUMPER is not None
    assert compose._emitters_agree(document)
    assert dump_compose(document) == python_emitter(document)
