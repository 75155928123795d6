"""Inline mode: a user typing ``@bot words`` (``user_sends_inline_query``) queues an
``inline_query``; ``answerInlineQuery`` answers an open query once, checked as Telegram checks it.

What is checked: the query is known and not answered yet ("query is too old ..."); at most 50
results (``RESULTS_TOO_MUCH``); each result an object with a ``type`` and an ``id`` of 1-64 bytes
(``RESULT_ID_INVALID``), unique (``RESULT_ID_DUPLICATE``); ``cache_time`` an integer >= 0,
``is_personal`` a boolean, ``next_offset`` at most 64 bytes (``NEXT_OFFSET_INVALID``); a
``button`` an object with ``text`` and one of ``web_app`` / ``start_parameter``.
Results: only the cached video (``type`` "video" with ``video_file_id``) is emulated, the kind the
bot sends; any other result type is refused by the fake (say so rather than pass it unchecked).
A cached video needs ``title``; its ``video_file_id`` must be a file this fake holds, and a video
(or a document) - as ``sendVideo`` by file_id; its caption is checked like a message caption (HTML
parsed, 1024 characters); unknown fields are refused, as with the methods' parameters. Accepted
answers are recorded in ``tg.inline_answers`` (``InlineAnswer``).

Deviations: the texts of the errors above are Telegram's error codes as its servers return them
for inline answers (``Bad Request: RESULT_ID_DUPLICATE``); no result is ever "chosen"
(``chosen_inline_result`` is not emulated), and no message is posted in the user's chat.
"""

from __future__ import annotations

import copy

from playground.bot_api.messages import MessageMethods
from playground.bot_api.protocol import _WRONG_FILE, _as_bool, _as_int, _bad
from playground.bot_api.records import InlineAnswer, _InlineQuery

MAX_RESULTS = 50
MAX_RESULT_ID_BYTES = 64
MAX_NEXT_OFFSET_BYTES = 64
CHAT_TYPES = ("sender", "private", "group", "supergroup", "channel")
_CACHED_VIDEO_FIELDS = {
    "type",
    "id",
    "video_file_id",
    "title",
    "description",
    "caption",
    "parse_mode",
    "caption_entities",
    "show_caption_above_media",
    "reply_markup",
    "input_message_content",
}
_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class InlineQueries(MessageMethods):
    """Inline queries (the test's side) and ``answerInlineQuery``."""

    def user_sends_inline_query(
        self,
        query: str,
        user_id: int = 1001,
        offset: str = "",
        *,
        chat_type: str | None = "sender",
        language_code: str = "en",
        first_name: str = "Ann",
        username: str = "ann",
    ) -> dict:
        """Queue an ``inline_query``: the user typed ``@bot <query>`` (at most 256 characters,
        as Telegram sends) in a chat of ``chat_type`` ("sender": their private chat with the bot;
        None: unknown, as for a secret chat); ``offset`` is the ``next_offset`` of the answer
        whose end the user scrolled to. Returns the query."""
        if len(query) > 256:
            raise ValueError("user_sends_inline_query: Telegram sends at most 256 characters")
        if chat_type is not None and chat_type not in CHAT_TYPES:
            raise ValueError(f"chat_type must be one of {CHAT_TYPES} or None")
        user = self._user_acts(user_id, first_name, username, language_code)
        query_id = str(7_000_000 + next(self._seq))
        self._inline_queries[query_id] = _InlineQuery(user_id, query, offset)
        inline_query: dict = {"id": query_id, "from": user, "query": query, "offset": offset}
        if chat_type is not None:
            inline_query["chat_type"] = chat_type
        self._push_update({"inline_query": inline_query})
        return copy.deepcopy(inline_query)

    async def _m_answerInlineQuery(self, p: dict, uploads: dict) -> bool:
        query_id = str(p["inline_query_id"])
        asked = self._inline_queries.get(query_id)
        if asked is None:
            raise _bad(_TOO_OLD)
        results = p["results"]
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            self._check_result(result, seen)
        cache_time = None
        if p.get("cache_time") is not None:
            cache_time = _as_int(p["cache_time"], "cache_time")
            if cache_time < 0:
                raise _bad("CACHE_TIME_INVALID")
        is_personal = False
        if p.get("is_personal") is not None:
            if p["is_personal"] not in (True, False, "true", "false", "True", "False"):
                raise _bad("can't parse is_personal: a Boolean is expected")
            is_personal = _as_bool(p["is_personal"])
        next_offset = str(p.get("next_offset") or "")
        if len(next_offset.encode()) > MAX_NEXT_OFFSET_BYTES:
            raise _bad("NEXT_OFFSET_INVALID")
        self._check_button(p.get("button"))
        del self._inline_queries[query_id]  # answered once: a second answer is "too old"
        self.inline_answers.append(
            InlineAnswer(
                inline_query_id=query_id,
                user_id=asked.user_id,
                query=asked.query,
                offset=asked.offset,
                results=copy.deepcopy(results),
                cache_time=cache_time,
                is_personal=is_personal,
                next_offset=next_offset,
            )
        )
        return True

    def _check_result(self, result: object, seen: set[str]) -> None:
        if not isinstance(result, dict) or not isinstance(result.get("type"), str):
            raise _bad('can\'t parse inline query result: field "type" must be of type String')
        result_id = result.get("id")
        if not isinstance(result_id, str) or not 1 <= len(result_id.encode()) <= 64:
            raise _bad("RESULT_ID_INVALID")
        if result_id in seen:
            raise _bad("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        if result["type"] != "video" or "video_file_id" not in result:
            raise _bad(f"inline result type {result['type']!r} is not emulated by the fake")
        unknown = sorted(result.keys() - _CACHED_VIDEO_FIELDS)
        if unknown:
            raise _bad(f"can't parse inline query result: unknown field {unknown[0]}")
        if not isinstance(result.get("title"), str) or not result["title"].strip():
            raise _bad("RESULT_TITLE_EMPTY")
        if "description" in result and not isinstance(result["description"], str):
            raise _bad("can't parse inline query result: description must be of type String")
        stored = self._files.get(str(result["video_file_id"]))
        if stored is None:
            raise _bad(_WRONG_FILE)
        if stored.kind not in ("video", "document"):
            raise _bad(f"can't use file of type {stored.kind.title()} as Video")
        self._caption(result)
        self._markup(result, None)  # sent by the user into any chat: no web_app buttons

    @staticmethod
    def _check_button(button: object) -> None:
        if button is None:
            return
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise _bad("can't parse inline query results button JSON object")
        if len({"web_app", "start_parameter"} & button.keys()) != 1:
            raise _bad("can't parse inline query results button JSON object")
