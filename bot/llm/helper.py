"""What the bot asks of the language model: turn a short idea into a detailed cinematic prompt
(`--enhance`, the Improve button), or put a prompt that is not in English into English (Luma
understands English best).

The helper never decides whether a video is made: whatever goes wrong (no answer in time, an
error, an empty or overlong answer) comes back as `HelpOutcome.FAILED`, and the user's own
prompt is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.llm.client import ChatClient, ChatError

log = logging.getLogger(__name__)

ENHANCE_SYSTEM = (
    "You write prompts for Luma Dream Machine, a text-to-video model. Rewrite the user's idea "
    "as one detailed, cinematic video prompt in English: the subject and what it does, the "
    "setting, light, mood and camera, in at most 80 words. Keep every element the user asked "
    "for and add nothing that contradicts it. Answer with the prompt only: no title, no quotes, "
    "no explanation."
)
TRANSLATE_SYSTEM = (
    "Translate the user's text into English for a text-to-video model. Keep its meaning, "
    "names and details; do not add or explain anything. If it is already English, return it "
    "unchanged. Answer with the translation only, without quotes."
)
MAX_TOKENS = 400

# Words of the commonest Latin-script languages that are not English words: two of them
# mark a prompt as not English even when every letter is ASCII.
_FOREIGN_WORDS = frozenset(
    "el los las una unos del con por para muy como pero sobre entre desde "  # es
    "der die das und ein eine nicht mit auf dem den ist im zum zur "  # de
    "le les une des du est avec sur dans sous chez très "  # fr
    "il della dei delle nel nella gli sono uno "  # it
    "um uma uns umas com não são pela pelo nas nos muito "  # pt
    "het een niet zijn voor".split()  # nl
)
_WORD = re.compile(r"[^\W\d_]+")
# What a model wraps its answer in now and then, despite being told not to.
_WRAPPING = re.compile(r'^(?:prompt|translation)\s*:\s*|^["“”«»\']+|["“”«»\']+$', re.IGNORECASE)


class HelpOutcome(StrEnum):
    ENHANCED = "enhanced"  # rewritten as a detailed prompt (in English)
    TRANSLATED = "translated"  # put into English
    UNCHANGED = "unchanged"  # the model found nothing to change
    FAILED = "failed"  # no usable answer: the user's prompt goes as typed


@dataclass(frozen=True)
class Rewrite:
    outcome: HelpOutcome
    prompt: str | None = None  # what to send instead of the user's prompt (None: theirs)
    reason: str | None = None  # why it failed, for the log


def looks_english(prompt: str) -> bool:
    """Whether `prompt` may be sent untranslated: every letter is ASCII, and it has fewer than
    two words that only other Latin-script languages use."""
    # Cyrillic, CJK, Arabic..., and é, ñ, ü, ç: some other language (English loanwords such
    # as "café" are rare enough in a video prompt that a needless translation is the cheaper
    # mistake: it comes back unchanged).
    if any(char.isalpha() and not char.isascii() for char in prompt):
        return False
    words = {word.lower() for word in _WORD.findall(prompt)}
    return len(words & _FOREIGN_WORDS) < 2


class PromptHelper:
    def __init__(self, chat: ChatClient, *, translate: bool) -> None:
        self._chat = chat
        self.translate = translate

    def needed(self, prompt: str, *, enhance: bool) -> bool:
        """Whether the model has anything to do for this prompt."""
        return enhance or (self.translate and not looks_english(prompt))

    async def rewrite(self, prompt: str, *, enhance: bool, fits: Callable[[str], bool]) -> Rewrite:
        """The prompt to send: enhanced (always in English), or translated. `fits` says whether
        an answer is short enough for the video API."""
        system, outcome = (
            (ENHANCE_SYSTEM, HelpOutcome.ENHANCED)
            if enhance
            else (TRANSLATE_SYSTEM, HelpOutcome.TRANSLATED)
        )
        try:
            answer = _unwrapped(await self._chat.complete(system, prompt, max_tokens=MAX_TOKENS))
        except ChatError as error:
            return Rewrite(HelpOutcome.FAILED, reason=str(error))
        if not answer:
            return Rewrite(HelpOutcome.FAILED, reason="empty answer")
        if not fits(answer):
            return Rewrite(HelpOutcome.FAILED, reason="answer too long for the video API")
        if answer == prompt.strip():
            return Rewrite(HelpOutcome.UNCHANGED)
        return Rewrite(outcome, prompt=answer)


def _unwrapped(answer: str) -> str:
    """One line of text, without the labels and quotes models add."""
    flat = " ".join(answer.split())
    return _WRAPPING.sub("", flat).strip()
