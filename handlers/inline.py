"""Inline mode: `@Bot <words>` in any chat lists the user's own finished videos whose prompt
holds the words (the newest when there are none), as cached videos by their Telegram file_id;
choosing one posts it in that chat at no video-API cost and no quota.

The answer is personal (`is_personal`: Telegram never shows one user's list to another) and
cached only briefly, so a new video shows up within the minute. `services.shareable_videos`
decides what is listed (and that a banned user gets an empty list); here it becomes Telegram's
`InlineQueryResultCachedVideo`s, fifty at most, with `next_offset` for the next ones.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import InlineQueryResultCachedVideo, Update
from telegram.error import TelegramError

from bot.domain.model import Job
from bot.runtime import BotContext
from bot.texts import Html, excerpt, strip_html, text
from bot.worker.delivery import caption, video_details

log = logging.getLogger(__name__)

# Seconds Telegram may show the same answer again without asking the bot.
CACHE_SECONDS = 30
# Telegram shows a line or two of a result's title.
TITLE_CHARS = 64


async def inline_query(update: Update, context: BotContext) -> None:
    query = update.inline_query
    assert query is not None
    language = query.from_user.language_code
    found = await context.runtime.service.shareable_videos(
        query.from_user.id, query.query, query.offset
    )
    results = [_result(job, language) for job in found.videos]
    try:
        await query.answer(
            results,
            cache_time=CACHE_SECONDS,
            is_personal=True,
            # None rather than "" for "no more": PTB's Defaults turn an empty string into "[]"
            # (it reads "" as an empty list of poll options), which Telegram would echo back.
            next_offset=found.next_offset or None,
        )
    except TelegramError as error:  # typically: the user typed on and the query is too old
        log.info("inline query not answered: %s", error)


def _result(job: Job, language: str | None) -> InlineQueryResultCachedVideo:
    assert job.video_file_id is not None  # only videos with a file are listed
    title = excerpt(job.prompt, TITLE_CHARS) or strip_html(text("inline_untitled", language))
    description = text(
        "inline_description",
        language,
        date=datetime.fromtimestamp(job.created_at, UTC).strftime("%Y-%m-%d %H:%M"),
        details=Html(video_details(job, language)),
    )
    return InlineQueryResultCachedVideo(
        id=str(job.id),
        video_file_id=job.video_file_id,
        title=title,
        description=strip_html(description),
        caption=caption(job, language),
    )
