"""Every user-facing sentence, in one catalog.

Messages are Telegram HTML. `text()` escapes every value it interpolates, so a prompt with `<` or
`&` can never break a message; pass `Html(...)` for a value that is already safe markup.
Catalogs are keyed by language; English is complete and the fallback for any other language.
"""

from __future__ import annotations

import html
from typing import Final


class Html(str):
    """A value that is already valid Telegram HTML and must not be escaped again."""


EN: Final[dict[str, str]] = {
    "help": (
        "🎬 <b>I turn your words into short AI videos</b> (Luma Dream Machine).\n\n"
        "<b>Make a video</b>\n"
        "/video <i>what should happen</i>\n"
        "Example: <code>/video a jellyfish drifting through space, cinematic</code>\n\n"
        "<b>Options</b> (anywhere in the prompt)\n"
        "• <code>--ar 9:16</code> or just <code>9:16</code> at the start or end: aspect ratio, "
        "one of {ratios} (default 16:9)\n"
        "• <code>--loop</code>: a seamless loop\n"
        "Example: <code>/video 9:16 a cat surfing a wave --loop</code>\n\n"
        "A video takes a minute or two; I keep you posted and send it here.\n"
        "{quota_line}"
    ),
    "quota_line_limited": "You can make <b>{left}</b> of {limit} videos today (resets 00:00 UTC).",
    "quota_line_unlimited": "You have no daily limit.",
    "usage": (
        "Tell me what the video should show, for example:\n"
        "<code>/video a jellyfish drifting through space</code>\n"
        "Options: <code>--ar 9:16</code> (aspect ratio), <code>--loop</code>. See /help."
    ),
    "unknown_option": (
        "I don't know the option <code>{option}</code>. "
        "Valid options: <code>--ar &lt;ratio&gt;</code> (one of {ratios}) and <code>--loop</code>."
    ),
    "option_needs_value": (
        "<code>{option}</code> needs a value, for example <code>--ar 9:16</code>."
    ),
    "option_takes_no_value": (
        "<code>{option}</code> takes no value; just write <code>{option}</code>."
    ),
    "invalid_ratio": (
        "<code>{value}</code> is not an aspect ratio I can make. Use one of: {ratios}."
    ),
    "conflicting_ratios": (
        "You gave two aspect ratios ({first} and {second}). Please keep just one."
    ),
    "prompt_too_long": (
        "Your prompt is {length} characters long; the limit is {limit}. "
        "Please shorten it and send it again."
    ),
    "prompt_too_short": "Your prompt is too short. Describe the scene in a few words.",
    "quota_exhausted": (
        "You've used all {limit} videos for today. "
        "Your allowance resets at 00:00 UTC, in {resets_in}."
    ),
    "status_queued": "⏳ <b>Queued</b>: “{prompt}”\n{elapsed} elapsed",
    "status_dreaming": "🎬 <b>Dreaming</b>: “{prompt}”\n{elapsed} elapsed",
    "status_delivering": "📤 <b>Uploading</b> your video…",
    "caption": "🎬 {prompt}\n{details} · <code>{generation_id}</code>",
    "video_link": (
        "🎬 {prompt}\nYour video is ready but too large to upload here ({size_mb} MB). "
        "Download it within the hour: {url}\n<code>{generation_id}</code>"
    ),
    "failed_moderation": (
        "😔 The video service declined this request ({reason}). "
        "Try rewording the prompt. Your quota was refunded."
    ),
    "failed_generation": (
        "😔 The video could not be made ({reason}). You can try again; your quota was refunded."
    ),
    "failed_timeout": (
        "⌛ The video took too long and I stopped waiting. Your quota was refunded; "
        "please try again later."
    ),
    "failed_rejected": (
        "😔 The video service rejected this request: {reason}. Your quota was refunded."
    ),
    "failed_service": (
        "🛠 The video service is unavailable right now (the bot's operator has been told). "
        "Your quota was refunded; please try again later."
    ),
    "failed_uncertain": (
        "⚠️ The video service did not confirm your request, so I did not resend it "
        "(that could charge twice). Your quota was refunded; please send it again."
    ),
    "failed_unsupported": (
        "This video service does not support that ({reason}). Your quota was refunded."
    ),
    "failed_delivery": (
        "😔 Your video was made but I could not send it here. Your quota was refunded."
    ),
    "internal_error": "Something went wrong on my side. Please try again in a moment.",
    "command_video": "Make a video from a text prompt",
    "command_help": "How to use this bot",
    "command_start": "Start",
}

CATALOGS: Final[dict[str, dict[str, str]]] = {"en": EN}


def text(key: str, language: str | None = None, **values: object) -> str:
    """The message `key` in `language` (falling back to English), with values HTML-escaped."""
    catalog = CATALOGS.get((language or "en").split("-")[0].lower(), EN)
    template = catalog.get(key) or EN[key]
    escaped = {
        name: value if isinstance(value, Html) else html.escape(str(value), quote=False)
        for name, value in values.items()
    }
    return template.format(**escaped)


def excerpt(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary where possible, with an ellipsis."""
    value = " ".join(value.split())
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut + "…"


def duration_words(seconds: float) -> str:
    """'3h 12m', '12m', '45s' — for quota resets."""
    seconds = max(int(seconds), 0)
    hours, remainder = divmod(seconds, 3600)
    minutes = remainder // 60
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def clock(seconds: float) -> str:
    """Elapsed time as m:ss."""
    minutes, secs = divmod(max(int(seconds), 0), 60)
    return f"{minutes}:{secs:02d}"
