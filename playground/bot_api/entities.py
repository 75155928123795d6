"""Message entities as Telegram computes them: Telegram-HTML parsed like the Bot API
(``parse_html``, which refuses what Telegram refuses) and ``bot_command`` entities; lengths in
UTF-16 code units (``u16len``).
"""

from __future__ import annotations

import html
import re
from typing import Any

from playground.bot_api.protocol import ApiError, _bad


def u16len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


_HTML_ENTITY_TYPES = dict(
    pair.split("=")
    for pair in "b=bold strong=bold i=italic em=italic u=underline ins=underline "
    "s=strikethrough strike=strikethrough del=strikethrough code=code pre=pre a=text_link "
    "tg-spoiler=spoiler span=spoiler blockquote=blockquote tg-emoji=custom_emoji".split()
)
_HTML_TOKEN = re.compile(r"<(/?)([^\s<>/]*)([^<>]*)>|&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot);")
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+))""")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def parse_html(source: str) -> tuple[str, list[dict]]:
    """Parse Telegram-HTML like the Bot API: returns (plain text, entities) or raises 400."""
    out: list[str] = []
    entities: list[dict] = []
    stack: list[tuple[str, int, dict]] = []  # (tag, utf16 start, entity)
    pos = offset = 0

    def fail(msg: str) -> ApiError:
        return _bad(f"can't parse entities: {msg}")

    def emit(chunk: str, at: int | None = None) -> None:  # at: source index of raw text
        nonlocal offset
        if at is not None and "<" in chunk:
            byte = len(source[: at + chunk.index("<")].encode())
            raise fail(f"Unexpected end of name token at byte offset {byte}")
        out.append(chunk)
        offset += u16len(chunk)

    for m in _HTML_TOKEN.finditer(source):
        emit(source[pos : m.start()], pos)
        pos, byte = m.end(), len(source[: m.start()].encode())
        if ref := m.group(4):  # character reference
            emit(_NAMED.get(ref) or chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])))
            continue
        closing, tag, attr_text = m.group(1), m.group(2).lower(), m.group(3)
        attrs = {
            a[0].lower(): html.unescape(a[1] or a[2] or a[3]) for a in _ATTR.findall(attr_text)
        }
        if closing:
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte}")
            if stack[-1][0] != tag:
                raise fail(
                    f"Unmatched end tag at byte offset {byte}, expected "
                    f'"</{stack[-1][0]}>", found "</{tag}>"'
                )
            _, start, opened = stack.pop()
            if opened and offset > start:
                opened.update(offset=start, length=offset - start)
                entities.append(opened)
            continue
        if tag not in _HTML_ENTITY_TYPES or (tag == "span" and attrs.get("class") != "tg-spoiler"):
            raise fail(f'Unsupported start tag "{tag}" at byte offset {byte}')
        entity: dict[str, Any] = {"type": _HTML_ENTITY_TYPES[tag]}
        if tag == "a":
            entity = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else {}
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id", "")
        elif tag == "blockquote" and "expandable" in attr_text:
            entity["type"] = "expandable_blockquote"
        elif tag == "code" and stack and stack[-1][0] == "pre":
            if attrs.get("class", "").startswith("language-"):
                stack[-1][2]["language"] = attrs["class"][len("language-") :]
            entity = {}
        stack.append((tag, offset, entity))
    emit(source[pos:], pos)
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")


def command_entities(text: str) -> list[dict]:
    """``bot_command`` entities Telegram would attach to a user's text or caption."""
    return [
        {"type": "bot_command", "offset": u16len(text[: m.start()]), "length": u16len(m.group())}
        for m in _COMMAND.finditer(text)
    ]
