"""Inline buttons: a user pressing one (``press_button``, ``press_inline_button``) queues a
``callback_query``; ``answerCallbackQuery`` answers an open query once.
"""

from __future__ import annotations

import copy

from playground.bot_api.protocol import _bad
from playground.bot_api.state import FakeState


class CallbackQueries(FakeState):
    """Button presses (the test's side) and ``answerCallbackQuery``."""

    def press_button(
        self,
        message: dict,
        callback_data: str,
        user_id: int = 1001,
        *,
        crafted: bool = False,
        inaccessible: bool = False,
    ) -> dict:
        """Queue a ``callback_query`` for an inline button of a bot message; returns the query.
        ``crafted=True``: any data, as a tampering client could send (the query can be answered).
        ``inaccessible=True``: the message is one the bot can no longer see (deleted, or too
        old), so the query carries an ``InaccessibleMessage``: only ``chat``, ``message_id`` and
        ``date`` = 0, as the Bot API sends it (the message may be gone from the fake; its buttons
        are then not checked: the user's app still shows them).
        """
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        stored = self._find(chat_id, message_id)
        if stored is None and not inaccessible:
            raise ValueError("press_button: message not found (deleted?)")
        rows = ((stored or {}).get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = (b.get("callback_data") for row in rows for b in row)
        if not crafted and stored is not None and callback_data not in buttons:
            raise ValueError(f"press_button: no button with callback_data {callback_data!r}")
        shown = (
            {"chat": copy.deepcopy(message["chat"]), "message_id": message_id, "date": 0}
            if inaccessible
            else copy.deepcopy(stored)
        )
        return self._push_query(
            user_id, callback_data, {"message": shown}, str(abs(chat_id) * 7 + 11)
        )

    def press_inline_button(
        self, inline_message_id: str, callback_data: str, user_id: int = 1001
    ) -> dict:
        """Queue a ``callback_query`` from a button of a message sent in inline mode (via the
        bot, in someone else's chat): the Bot API then sends no ``message`` at all, only
        ``inline_message_id``. Any data (the fake keeps no inline messages); returns the query.
        """
        extra = {"inline_message_id": inline_message_id}
        return self._push_query(user_id, callback_data, extra, str(user_id * 13 + 5))

    def _push_query(
        self, user_id: int, callback_data: str, origin: dict, chat_instance: str
    ) -> dict:
        query_id = str(9_000_000 + next(self._seq))
        self._open_queries.add(query_id)
        self._users.setdefault(user_id, self._user(user_id))  # Telegram knows who pressed
        query = {
            "id": query_id,
            "from": self._user(user_id),
            **origin,
            "data": callback_data,
            "chat_instance": chat_instance,
        }
        self._push_update({"callback_query": query})
        return copy.deepcopy(query)

    async def _m_answerCallbackQuery(self, p: dict, uploads: dict) -> bool:
        query_id = str(p["callback_query_id"])
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        return True
