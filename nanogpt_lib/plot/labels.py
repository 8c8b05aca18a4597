"""How a picture writes a token: the one place that makes invisible characters visible."""

from __future__ import annotations

SHOWN = {"\n": "⏎", " ": "␣", "\t": "⇥"}


def show_token(token: str | bytes) -> str:
    """A token as a readable label: newline ⏎, space ␣, tab ⇥, other invisible characters escaped, empty ∅.

    Bytes (a BPE vocabulary entry) are decoded as UTF-8, an incomplete character shown as �.
    """
    if isinstance(token, bytes):
        token = token.decode("utf-8", errors="replace")
    shown = (SHOWN.get(c) or (c if c.isprintable() else c.encode("unicode_escape").decode()) for c in token)
    return "".join(shown) or "∅"
