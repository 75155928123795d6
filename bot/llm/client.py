"""An OpenAI-compatible chat-completions client: `POST <base>/chat/completions`.

AI/ML API sells one under the video API's key, at the same root; any other OpenAI-compatible
service works with its own key. Every failure (no answer in time, an HTTP error, a body that is
not a completion, an empty answer) is one `ChatError`: the prompt helper treats them alike.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

CHAT_ROUTE = "/chat/completions"


class ChatError(Exception):
    """The model gave no usable answer; the message says why (never the key)."""


class ChatClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        session: aiohttp.ClientSession,
        timeout: float,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}{CHAT_ROUTE}"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._model = model
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))

    async def complete(
        self, system: str, user: str, *, max_tokens: int, temperature: float = 0.4
    ) -> str:
        """The model's answer to `user` under the instructions in `system`."""
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        try:
            async with self._session.post(
                self._url, data=json.dumps(body), headers=self._headers, timeout=self._timeout
            ) as response:
                status = response.status
                text = await response.text()
        except TimeoutError:
            raise ChatError("no answer in time") from None
        except aiohttp.ClientError as error:
            raise ChatError(f"connection failed ({type(error).__name__})") from None
        if not 200 <= status < 300:
            raise ChatError(f"HTTP {status}")
        return _content(text)


def _content(text: str) -> str:
    """The first choice's message text; ChatError if there is none."""
    try:
        payload: Any = json.loads(text)
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ChatError("the answer is not a chat completion") from None
    if not isinstance(content, str) or not content.strip():
        raise ChatError("empty answer")
    return content.strip()
