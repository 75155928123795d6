"""AI/ML API's OpenAI-compatible chat completions, `POST /v1/chat/completions` at the API's root
(the same key as the video routes): what the bot's prompt helper (issue 19) talks to.

Answers are deterministic, so tests can expect them. A system message that asks to translate
gets the last user message back as `[en] <text>`; any other conversation gets it as a
cinematic prompt (`ENHANCED.format(idea=<text>)`). `EmulatorConfig.chat_answers` overrides the
answer for an exact user message (an empty string answers an empty completion). Faults,
`error_rates` and auth apply as to the video routes (fault route `"chat"`).
"""

from __future__ import annotations

import itertools
import time
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from emulator.core import RouteDef, emulator_of
from emulator.validation import LenientModel, parse_body

FAMILY = "aiml_chat"
PATH = "/v1/chat/completions"
ENHANCED = (
    "Cinematic shot of {idea}, soft volumetric light, shallow depth of field, smooth slow "
    "camera movement, rich detail"
)
TRANSLATED = "[en] {text}"
_ids = itertools.count(1)


class Message(LenientModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(LenientModel):
    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[Message], Field(min_length=1)]
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None


def answer(messages: list[Message], overrides: dict[str, str]) -> str:
    """The deterministic reply to a conversation (see the module docstring)."""
    text = next((m.content for m in reversed(messages) if m.role == "user"), "")
    if text in overrides:
        return overrides[text]
    system = " ".join(m.content for m in messages if m.role == "system").lower()
    if "translat" in system:
        return TRANSLATED.format(text=text)
    return ENHANCED.format(idea=text.strip().rstrip("."))


def _tokens(text: str) -> int:
    return len(text.split())


async def complete(request: web.Request) -> web.Response:
    body, _ = await parse_body(request, ChatRequest)
    content = answer(body.messages, emulator_of(request).config.chat_answers)
    prompt_tokens = sum(_tokens(m.content) for m in body.messages)
    return web.json_response(
        {
            "id": f"chatcmpl-emulator-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _tokens(content),
                "total_tokens": prompt_tokens + _tokens(content),
            },
        }
    )


ROUTES = (RouteDef("POST", PATH, complete, "chat", FAMILY, "complete"),)
