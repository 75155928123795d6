"""Async client for the Luma Dream Machine video API, in each family's dialect.

Knows nothing of Telegram or storage. Use `create_client` to get the right family.
"""

from __future__ import annotations

import aiohttp

from bot.luma.aiml_universal import AimlUniversalClient
from bot.luma.aiml_v1 import AimlV1Client
from bot.luma.aiml_v2 import AimlV2Client
from bot.luma.client import OnRequest, VideoApiClient
from bot.luma.luma_direct import LumaClient
from bot.luma.wakeups import Wakeups

FAMILIES: dict[str, type[VideoApiClient]] = {
    client.family: client
    for client in (AimlV2Client, AimlV1Client, AimlUniversalClient, LumaClient)
}


def create_client(
    family: str,
    *,
    base_url: str,
    api_key: str,
    session: aiohttp.ClientSession,
    long_poll_seconds: float = 30.0,
    poll_interval: float = 5.0,
    model: str | None = None,
    wakeups: Wakeups | None = None,
    on_request: OnRequest | None = None,
    max_connections: int | None = None,
) -> VideoApiClient:
    return FAMILIES[family](
        base_url=base_url,
        api_key=api_key,
        session=session,
        long_poll_seconds=long_poll_seconds,
        poll_interval=poll_interval,
        model=model,
        wakeups=wakeups,
        on_request=on_request,
        max_connections=max_connections,
    )


__all__ = ["FAMILIES", "VideoApiClient", "Wakeups", "create_client"]
