"""Inline sharing: `@Bot <words>` in any chat offers the user's own finished videos, to post by
their Telegram file_id (no video-API call, no quota).

What is listed is decided here (the words of the query, the page, who gets nothing); storage
finds the videos; handlers/inline.py turns them into Telegram's inline results. The query is
hostile input: it is cut to Telegram's 256 characters and a bounded number of words, and reaches
SQL only as bound LIKE patterns with its wildcards escaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.model import Job

# Telegram's most results in one answer to an inline query.
INLINE_PAGE_SIZE = 50
# Telegram sends at most 256 characters of query; more words than this narrow nothing useful.
MAX_QUERY_CHARS = 256
MAX_WORDS = 10
# Offsets are the bot's own (`next_offset`): a number of videos already shown. A larger or
# malformed one is not the bot's, and lists nothing.
MAX_OFFSET = 100_000
MAX_OFFSET_CHARS = len(str(MAX_OFFSET))


@dataclass(frozen=True)
class SharedVideos:
    """One answer to an inline query: the videos (newest first) and the offset that asks for
    the next ones ("" when there are no more)."""

    videos: list[Job]
    next_offset: str = ""


def search_words(query: str) -> list[str]:
    """The distinct words a prompt must all hold (lower-cased); none: every video."""
    words: list[str] = []
    for word in query[:MAX_QUERY_CHARS].lower().split():
        if word not in words:
            words.append(word)
    return words[:MAX_WORDS]


def page_offset(offset: str) -> int | None:
    """How many videos the client has been shown already; None if `offset` is not one the bot
    gave ("" is the first page)."""
    if not offset:
        return 0
    if len(offset) > MAX_OFFSET_CHARS or not offset.isascii() or not offset.isdigit():
        return None
    value = int(offset)
    return value if value <= MAX_OFFSET else None
