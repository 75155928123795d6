"""Numbers typed by people (command arguments, button data): ASCII digits only.

`int()` and `str.isdigit()` are too generous for input: `int()` takes any script's digits
("١٠٠١" is 1001) and underscores, `isdigit()` takes superscripts that `int()` then refuses
("²": ValueError). A number the user types as its own word goes through `parse_int`; a regex
that reads numbers inside a longer format (button data, "9s") says `[0-9]`, never `\\d`.
"""

from __future__ import annotations

import re

_SIGNED = re.compile(r"-?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")


def parse_int(text: str, *, signed: bool = False, max_digits: int = 18) -> int | None:
    """The integer `text` spells in ASCII digits (a leading "-" if `signed`), or None."""
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(text):
        return None
    if len(text.lstrip("-")) > max_digits:
        return None
    return int(text)
