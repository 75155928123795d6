"""The test's side: what the bot did (calls, messages, videos, confirmed updates) and waiting for
it, with the calls so far in the message when a wait times out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from playground.bot_api.protocol import _CANONICAL
from playground.bot_api.records import Call
from playground.bot_api.state import FakeState


class Inspection(FakeState):
    """Looking at what the bot did, and waiting for it."""

    def calls_of(self, method: str) -> list[Call]:
        method = _CANONICAL.get(method.lower(), method)
        return [c for c in self.calls if c.method == method]

    def messages(self, chat_id: int) -> list[dict]:
        return copy.deepcopy(list(self._messages.get(chat_id, {}).values()))

    def bot_messages(self, chat_id: int) -> list[dict]:
        return [m for m in self.messages(chat_id) if (chat_id, m["message_id"]) in self._bot_sent]

    def messages_with_video(self, chat_id: int) -> list[dict]:
        """Bot messages carrying a ``video``, ``animation`` or ``document`` (any document):
        what the user really received, e.g. ``len(tg.messages_with_video(chat)) == 1``."""
        kinds = {"video", "animation", "document"}
        return [m for m in self.bot_messages(chat_id) if kinds & m.keys()]

    def videos(self, chat_id: int | None = None) -> list[Call]:
        """Answered calls that put a video into a chat, in order: ``sendVideo``, or
        ``editMessageMedia`` with a video (a status message turned into the video). Each comes as
        a sendVideo-shaped Call: the media's fields (``caption``, ``width``...) are lifted into
        ``params`` and its upload is ``files["video"]``; ``result`` is the message."""
        out = []
        for call in self.calls:
            if not call.ok or (
                chat_id is not None and str(call.params.get("chat_id")) != str(chat_id)
            ):
                continue
            if call.method == "sendVideo":
                out.append(call)
            elif call.method == "editMessageMedia" and call.params["media"].get("type") == "video":
                media = dict(call.params["media"])
                ref = str(media.pop("media"))
                params = {k: v for k, v in call.params.items() if k != "media"}
                params.update(media, video=ref)
                part = ref[len("attach://") :] if ref.startswith("attach://") else None
                files = {"video": call.files[part]} if part in call.files else {}
                out.append(replace(call, params=params, files=files))
        return out

    async def wait_for_video(
        self,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Call:
        """The ``count``-th video delivered (see ``videos``) that matches ``predicate``."""

        def find() -> Call | None:
            found = [c for c in self.videos() if predicate is None or predicate(c)]
            return found[count - 1] if len(found) >= count else None

        return await self._wait(find, timeout, f"video number {count}")

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Call:
        method = _CANONICAL.get(method.lower(), method)

        def find() -> Call | None:
            return next(
                (
                    c
                    for c in self.calls
                    if c.method == method and (predicate is None or predicate(c))
                ),
                None,
            )

        return await self._wait(find, timeout, f"a {method} call")

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        return await self._wait(predicate, timeout, "the condition")

    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates ``offset`` or a webhook's 2xx answer (like
        ``pending_update_count``)."""
        return len(self._updates)

    def delivered_update_ids(self) -> list[int]:
        """``update_id`` of every webhook attempt answered with a 2xx, in order (an update
        delivered twice, e.g. through ``duplicate_rate`` or a timeout, appears twice)."""
        return [d.update_id for d in self.webhook_deliveries if d.ok]

    async def wait_for_webhook_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every queued update was confirmed by the webhook and no delivery (extra
        copies included) is in flight."""

        def idle() -> bool:
            return not self._updates and not self._wh_inflight

        try:
            await self._wait(idle, timeout, "the webhook to deliver everything")
        except AssertionError as exc:
            recent = "\n".join(f"  {d}" for d in self.webhook_deliveries[-10:]) or "  (none)"
            raise AssertionError(
                f"timed out after {timeout}s waiting for the webhook to deliver everything: "
                f"webhook={self._wh}, pending={[u['update_id'] for u in self._updates]}, "
                f"in flight={sorted(self._wh_inflight)}, last error={self.webhook_last_error}; "
                f"last deliveries:\n{recent}"
            ) from exc
