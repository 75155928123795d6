"""The Telegram layer only: parse -> validate -> call the domain's service -> reply.

May import everything of the bot below it (`bot.runtime`, `bot.domain`, `bot.worker` for the
status text and captions, `bot.telegram`, `bot.luma`'s types, the shared leaves); never
`storage` (services are reached through `BotContext.runtime`) or `bot.app`.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    InlineQueryHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from bot.runtime import BotContext
from bot.telegram.buttons import is_buy
from handlers.admin import admin_command
from handlers.albums import InAlbum, album_complete, album_item
from handlers.buttons import pressed, prompt_reply
from handlers.cancel import cancel_command
from handlers.commands import BotCommand
from handlers.errors import on_error
from handlers.extend import extend
from handlers.flood import slow_down
from handlers.gallery import GalleryActions
from handlers.help import help_command
from handlers.history import history_command
from handlers.inline import inline_query
from handlers.payments import (
    START_BUY,
    StartsWith,
    buy_command,
    buy_pressed,
    confirm_recovered,
    confirm_untold,
    paid,
    paysupport_command,
    pre_checkout,
    refund_command,
    star_transactions,
    terms_command,
)
from handlers.promos import (
    StartParameter,
    invite_command,
    promo_command,
    redeem_command,
    start_with_parameter,
)
from handlers.quota import quota_command
from handlers.story import story
from handlers.video import video

# Edited messages never start anything: only fresh messages and channel posts pass. Nor does a
# channel post that Telegram copied into the channel's discussion group (an automatic forward):
# the post itself is the request, in the channel.
_FRESH = (
    filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
) & ~filters.IS_AUTOMATIC_FORWARD

__all__ = [
    "GalleryActions",
    "album_complete",
    "confirm_recovered",
    "confirm_untold",
    "register",
    "slow_down",
    "star_transactions",
]

# Handler groups run in order; only the first matching handler of a group runs. Groups between
# 0 and this one are free for observers (tests use one).
LAST_GROUP = 1000


async def skip_handled_updates(update: object, context: BotContext) -> None:
    """Telegram may deliver an update twice; a copy of one already handled stops here."""
    assert isinstance(update, Update)
    if await context.runtime.updates.handled_before(update.update_id):
        raise ApplicationHandlerStop


async def mark_handled(update: object, context: BotContext) -> None:
    # Recorded after the handlers ran (this group runs last), so an update whose handling was
    # cut short by a crash is handled again when Telegram re-sends it.
    assert isinstance(update, Update)
    await context.runtime.updates.mark_handled(update.update_id)


def _is_buy(data: object) -> bool:
    return isinstance(data, str) and is_buy(data)


def register(application: Application) -> None:
    application.add_handler(TypeHandler(Update, skip_handled_updates), group=-1)
    application.add_handler(TypeHandler(Update, mark_handled), group=LAST_GROUP)
    # Order matters: the first matching handler wins. Album items are collected before any
    # command handling, since the album is acted on only once it is complete.
    # Payments first: Telegram waits for the pre-checkout answer, and a successful payment is a
    # message with no text that nothing else would take.
    application.add_handler(PreCheckoutQueryHandler(pre_checkout))
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.SUCCESSFUL_PAYMENT, paid)
    )
    application.add_handler(MessageHandler(_FRESH & InAlbum(), album_item))
    # `/start <code>` and `/start ref<user id>`; any other `/start` is the greeting.
    application.add_handler(MessageHandler(_FRESH & StartParameter(), start_with_parameter))
    application.add_handler(
        MessageHandler(_FRESH & (BotCommand("buy") | StartsWith(START_BUY)), buy_command)
    )
    application.add_handler(MessageHandler(_FRESH & BotCommand("start", "help"), help_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("video"), video))
    application.add_handler(MessageHandler(_FRESH & BotCommand("extend"), extend))
    application.add_handler(MessageHandler(_FRESH & BotCommand("story"), story))
    application.add_handler(MessageHandler(_FRESH & BotCommand("cancel"), cancel_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("history"), history_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("quota"), quota_command))
    application.add_handler(
        MessageHandler(_FRESH & BotCommand("stats", "grant", "ban", "unban"), admin_command)
    )
    application.add_handler(MessageHandler(_FRESH & BotCommand("promo"), promo_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("redeem"), redeem_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("invite"), invite_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("refund"), refund_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("paysupport"), paysupport_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("terms"), terms_command))
    application.add_handler(
        MessageHandler(
            _FRESH & filters.REPLY & ((filters.TEXT & ~filters.COMMAND) | filters.PHOTO),
            prompt_reply,
        )
    )
    application.add_handler(CallbackQueryHandler(buy_pressed, pattern=_is_buy))
    application.add_handler(CallbackQueryHandler(pressed))
    # `@Bot <words>` in any chat: the user's own videos, to post by file_id.
    application.add_handler(InlineQueryHandler(inline_query))
    application.add_error_handler(on_error)
