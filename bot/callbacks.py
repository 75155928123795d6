"""The bot's inline buttons and their callback data: `<action>:<job id>`, a few bytes (limit 64).

The data only names a job; whoever presses is checked against the job when it is handled, so
crafted data can do no more than pressing a real button in the same chat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import text


class Action(StrEnum):
    EXTEND = "x"
    AGAIN = "a"
    CANCEL = "c"


_DATA = re.compile(r"^([xac]):(\d{1,18})$")


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


def video_buttons(job_id: int, language: str | None) -> InlineKeyboardMarkup:
    """Under each video: "Extend" (continue it) and "Again" (the same request once more)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text("button_extend", language), callback_data=encode(Action.EXTEND, job_id)
                ),
                InlineKeyboardButton(
                    text("button_again", language), callback_data=encode(Action.AGAIN, job_id)
                ),
            ]
        ]
    )


def cancel_button(job_id: int, language: str | None) -> InlineKeyboardMarkup:
    """On a status message while the job waits to be submitted; progress edits remove it."""
    label = text("button_cancel", language)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=encode(Action.CANCEL, job_id))]]
    )
