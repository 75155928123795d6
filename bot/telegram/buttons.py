"""The bot's inline buttons and their callback data: `<action>:<job id>`, a few bytes (limit 64).

Under a video: `x` Extend, `a` Again, and where the video service has them `u` ⬆ Upscale (which
turns the row into the sizes: `u1` 1080p, `u4` 4K, `ub` back) and `s` 🔊 Add sound. On a status
message: `c` Cancel.

Under a /history list: `h:<owner user id>:<page>` (another page), `hr:<job id>` (send the video
again) and `hx:<job id>` (extend it); the owner is checked against whoever presses.

The data only names a job; whoever presses is checked against the job when it is handled, so
crafted data can do no more than pressing a real button in the same chat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.texts import text


class Action(StrEnum):
    EXTEND = "x"
    AGAIN = "a"
    CANCEL = "c"
    IMPROVE = "i"  # the prompt helper enhances a queued job's prompt
    UPSCALE = "u"  # show the sizes
    UPSCALE_1080P = "u1"
    UPSCALE_4K = "u4"
    BACK = "ub"  # from the sizes back to the video's buttons
    SOUND = "s"


# The size each upscale action asks for (bot.luma.models.UpscaleResolution).
UPSCALE_TO: dict[Action, str] = {Action.UPSCALE_1080P: "1080p", Action.UPSCALE_4K: "4k"}
_SIZE_ACTIONS = {size: action for action, size in UPSCALE_TO.items()}

_DATA = re.compile(r"^(x|a|c|i|u|u1|u4|ub|s):([0-9]{1,18})$")


@dataclass(frozen=True)
class ButtonPress:
    action: Action
    job_id: int


def encode(action: Action, job_id: int) -> str:
    return f"{action.value}:{job_id}"


def decode(data: str | None) -> ButtonPress | None:
    match = _DATA.match(data or "")
    if match is None:
        return None
    return ButtonPress(Action(match.group(1)), int(match.group(2)))


def _button(key: str, language: str | None, action: Action, job_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text(key, language), callback_data=encode(action, job_id))


def video_buttons(
    job_id: int, language: str | None, *, upscale: bool = False, sound: bool = False
) -> InlineKeyboardMarkup:
    """Under each video: "Extend" (continue it) and "Again" (the same request once more); a
    second row with "Upscale" and "Add sound" where the video service can do them (`upscale`:
    there is a size above the video's own)."""
    rows = [
        [
            _button("button_extend", language, Action.EXTEND, job_id),
            _button("button_again", language, Action.AGAIN, job_id),
        ]
    ]
    upgrades = [
        _button(key, language, action, job_id)
        for key, action, offered in (
            ("button_upscale", Action.UPSCALE, upscale),
            ("button_sound", Action.SOUND, sound),
        )
        if offered
    ]
    if upgrades:
        rows.append(upgrades)
    return InlineKeyboardMarkup(rows)


def upscale_buttons(
    job_id: int, sizes: tuple[str, ...], language: str | None
) -> InlineKeyboardMarkup:
    """In place of a video's buttons after "Upscale": one per size offered, and "Back"."""
    row = [
        _button(f"button_upscale_{size}", language, _SIZE_ACTIONS[size], job_id)
        for size in sizes
        if size in _SIZE_ACTIONS
    ]
    row.append(_button("button_back", language, Action.BACK, job_id))
    return InlineKeyboardMarkup([row])


def cancel_button(
    job_id: int, language: str | None, *, improve: bool = False
) -> InlineKeyboardMarkup:
    """On a status message while the job waits to be submitted; progress edits remove it.
    `improve`: "✨ Improve" beside it (a prompt helper exists and was not asked yet)."""
    buttons = [
        InlineKeyboardButton(
            text("button_cancel", language), callback_data=encode(Action.CANCEL, job_id)
        )
    ]
    if improve:
        label = text("button_improve", language)
        buttons.append(InlineKeyboardButton(label, callback_data=encode(Action.IMPROVE, job_id)))
    return InlineKeyboardMarkup([buttons])


class HistoryAction(StrEnum):
    PAGE = "h"
    RESEND = "hr"
    EXTEND = "hx"


_HISTORY_PAGE = re.compile(r"^h:([0-9]{1,18}):([0-9]{1,6})$")
_HISTORY_JOB = re.compile(r"^(h[rx]):([0-9]{1,18})$")


@dataclass(frozen=True)
class HistoryPress:
    """A /history button: a page of `owner_id`'s list, or a job of theirs (`job_id`)."""

    action: HistoryAction
    owner_id: int | None = None
    page: int = 1
    job_id: int | None = None


def history_page_data(owner_id: int, page: int) -> str:
    return f"{HistoryAction.PAGE.value}:{owner_id}:{page}"


def history_job_data(action: HistoryAction, job_id: int) -> str:
    return f"{action.value}:{job_id}"


def is_history(data: str | None) -> bool:
    """Data meant for a /history button (well-formed or not)."""
    return (data or "").startswith(HistoryAction.PAGE.value)


def decode_history(data: str | None) -> HistoryPress | None:
    if match := _HISTORY_PAGE.match(data or ""):
        owner_id, page = int(match.group(1)), int(match.group(2))
        return HistoryPress(HistoryAction.PAGE, owner_id=owner_id, page=page)
    if match := _HISTORY_JOB.match(data or ""):
        return HistoryPress(HistoryAction(match.group(1)), job_id=int(match.group(2)))
    return None


def history_buttons(
    owner_id: int,
    page: int,
    pages: int,
    videos: list[tuple[int, int]],
    language: str | None,
    gallery_url: str | None = None,
) -> InlineKeyboardMarkup | None:
    """Under a /history page: "Send again #N" and "Extend #N" for each delivered video
    (`videos`: (number, job id)), then ◀ / ▶ where another page exists, then the gallery
    Mini App if `gallery_url` (Telegram allows it in private chats only)."""
    rows = [
        [
            InlineKeyboardButton(
                text("history_button_again", language, number=number),
                callback_data=history_job_data(HistoryAction.RESEND, job_id),
            ),
            InlineKeyboardButton(
                text("history_button_extend", language, number=number),
                callback_data=history_job_data(HistoryAction.EXTEND, job_id),
            ),
        ]
        for number, job_id in videos
    ]
    navigation = []
    if page > 1:
        navigation.append(
            InlineKeyboardButton(
                text("history_button_previous", language),
                callback_data=history_page_data(owner_id, page - 1),
            )
        )
    if page < pages:
        navigation.append(
            InlineKeyboardButton(
                text("history_button_next", language),
                callback_data=history_page_data(owner_id, page + 1),
            )
        )
    if navigation:
        rows.append(navigation)
    if gallery_url is not None:
        gallery = WebAppInfo(gallery_url)
        rows.append([InlineKeyboardButton(text("button_gallery", language), web_app=gallery)])
    return InlineKeyboardMarkup(rows) if rows else None


# Buying credits: `buy` shows the packs (in a private chat), `buy:<credits>` asks for one pack's
# invoice. In a group or channel the offer is a link into the private chat (`start=buy`).
BUY = "buy"
_BUY_PACK = re.compile(r"^buy:([0-9]{1,9})$")


def is_buy(data: str | None) -> bool:
    return data == BUY or _BUY_PACK.match(data or "") is not None


def buy_pack_of(data: str | None) -> int | None:
    """The pack (its credits) a `buy:<credits>` button names; None for `buy` itself."""
    match = _BUY_PACK.match(data or "")
    return int(match.group(1)) if match else None


def buy_pack_data(credits: int) -> str:
    return f"{BUY}:{credits}"


def buy_button(language: str | None, *, bot_username: str | None = None) -> InlineKeyboardMarkup:
    """ "Buy credits": in a private chat a button showing the packs; elsewhere (`bot_username`
    given) a link that opens the private chat on them."""
    label = text("button_buy", language)
    if bot_username is not None:
        button = InlineKeyboardButton(label, url=f"https://t.me/{bot_username}?start=buy")
    else:
        button = InlineKeyboardButton(label, callback_data=BUY)
    return InlineKeyboardMarkup([[button]])
