"""What the Bot API accepts: its methods and their parameters, the values some take, and
its error answers (``ApiError``; ``_bad`` for a 400).
"""

from __future__ import annotations

from typing import Any

DEFAULT_TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
MB = 1024 * 1024


# Bot API parameters per method ("*" = required). The legacy reply_to_message_id,
# allow_sending_without_reply and disable_web_page_preview are still accepted by Telegram.
_SEND = (
    "business_connection_id chat_id* message_thread_id direct_messages_topic_id "
    "disable_notification protect_content allow_paid_broadcast message_effect_id "
    "suggested_post_parameters reply_parameters reply_markup reply_to_message_id "
    "allow_sending_without_reply caption parse_mode caption_entities "
)
# PTB quirk: with Defaults(parse_mode=/disable_notification=/protect_content=) PTB also sends
# those to both edit methods (via Bot._send_message); Telegram ignores them, so we accept them.
_EDIT = (
    "business_connection_id chat_id message_id inline_message_id reply_markup "
    "parse_mode disable_notification protect_content "
)
# sendInvoice has no business_connection_id; PTB sends parse_mode to it too with
# Defaults(parse_mode=...) (Telegram ignores it), so it is accepted.
_INVOICE = (
    _SEND.replace("business_connection_id ", "").replace("caption parse_mode caption_entities ", "")
    + "parse_mode title* description* payload* provider_token currency* prices* max_tip_amount "
    "suggested_tip_amounts start_parameter provider_data photo_url photo_size photo_width "
    "photo_height need_name need_phone_number need_email need_shipping_address "
    "send_phone_number_to_provider send_email_to_provider is_flexible"
)
_SPEC = {
    "getMe": "",
    "getUpdates": "offset limit timeout allowed_updates",
    "setWebhook": "url* certificate ip_address max_connections allowed_updates "
    "drop_pending_updates secret_token",
    "deleteWebhook": "drop_pending_updates",
    "getWebhookInfo": "",
    "setMyCommands": "commands* scope language_code",
    "getMyCommands": "scope language_code",
    "deleteMyCommands": "scope language_code",
    "sendMessage": _SEND.replace("caption parse_mode caption_entities ", "")
    + "text* parse_mode entities link_preview_options disable_web_page_preview",
    "editMessageText": _EDIT + "text* entities link_preview_options disable_web_page_preview",
    "editMessageReplyMarkup": _EDIT,
    "editMessageMedia": _EDIT + "media*",
    "deleteMessage": "chat_id* message_id*",
    "sendVideo": _SEND + "video* duration width height thumbnail cover start_timestamp "
    "show_caption_above_media has_spoiler supports_streaming",
    "sendDocument": _SEND + "document* thumbnail disable_content_type_detection",
    "sendPhoto": _SEND + "photo* show_caption_above_media has_spoiler",
    "sendChatAction": "business_connection_id chat_id* message_thread_id action*",
    "answerCallbackQuery": "callback_query_id* text show_alert url cache_time",
    "answerInlineQuery": "inline_query_id* results* cache_time is_personal next_offset button",
    "getFile": "file_id*",
    "getChat": "chat_id*",
    "getChatMember": "chat_id* user_id*",
    "setChatMenuButton": "chat_id menu_button",
    "getChatMenuButton": "chat_id",
    "sendInvoice": _INVOICE,
    "answerPreCheckoutQuery": "pre_checkout_query_id* ok* error_message",
    "refundStarPayment": "user_id* telegram_payment_charge_id*",
    "getStarTransactions": "offset limit",
    "getMyStarBalance": "",
    "close": "",
    "logOut": "",
}
# canonical name -> (allowed parameters, required parameters)
METHODS: dict[str, tuple[set[str], set[str]]] = {
    name: ({p.rstrip("*") for p in spec.split()}, {p[:-1] for p in spec.split() if p[-1] == "*"})
    for name, spec in _SPEC.items()
}
_CANONICAL = {name.lower(): name for name in METHODS}
JSON_FIELDS = set(
    "reply_parameters reply_markup entities caption_entities commands allowed_updates scope media "
    "link_preview_options suggested_post_parameters prices suggested_tip_amounts results "
    "button menu_button".split()
)
# How the Bot API names a JSON parameter it cannot parse ("can't parse <name> JSON object"), where
# that is not the parameter's own name.
JSON_FIELD_NAMES = {"menu_button": "menu button"}
CHAT_ACTIONS = set(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note".split()
)
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
# Update types in the order getWebhookInfo lists them (the server's UpdateType enum).
UPDATE_TYPES = (
    "message edited_message channel_post edited_channel_post inline_query chosen_inline_result "
    "callback_query shipping_query pre_checkout_query poll poll_answer my_chat_member chat_member "
    "chat_join_request chat_boost removed_chat_boost message_reaction message_reaction_count "
    "business_connection business_message edited_business_message deleted_business_messages "
    "purchased_paid_media"
).split()
_DEFAULT_ALLOWED = frozenset(UPDATE_TYPES) - _NOT_BY_DEFAULT
_MESSAGE_KINDS = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
}
_WEBHOOK_PORTS = (80, 88, 443, 8443)
_BUTTON_KINDS = set(
    "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
    "switch_inline_query_chosen_chat copy_text callback_game pay".split()
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_WRONG_FILE = "wrong file identifier/HTTP URL specified"
# Telegram's answers when it cannot use a media URL: unreachable, an error status, too slow, too
# large (20 MB for files sent by URL); and a web page where a video or photo was expected.
_URL_FAILED = "failed to get HTTP URL content"
_URL_WRONG_TYPE = "wrong type of the web page content"
# ChatMember.status values (the Bot API's ChatMemberOwner ... ChatMemberBanned).
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
_MEDIA_KEYS = ("photo", "video", "document", "animation", "audio", "caption", "caption_entities")
# Methods that count toward the flood limits (``flood_limits=True``); see the module docstring.
FLOOD_COUNTED = frozenset(
    "sendMessage sendPhoto sendVideo sendDocument sendMediaGroup sendInvoice copyMessage "
    "forwardMessage editMessageText editMessageCaption editMessageMedia "
    "editMessageReplyMarkup".split()
)


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _as_bool(value: Any) -> bool:
    return value in (True, 1, "true", "True", "1")
