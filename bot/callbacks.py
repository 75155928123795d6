"""Callback data of the bot's inline buttons: `<action>:<job id>`, a few bytes (limit 64).

The data only names a job; whoever presses is checked against the job when it is handled, so
crafted data can do no more than pressing a real button in the same chat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


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
