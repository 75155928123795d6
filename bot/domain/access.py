"""Who may use the bot and how much: admins, allowlists, bans, and the daily limits.

Every request has one payer identity (`payer_of`): the user who sent it, or the chat it was sent
on behalf of (`sender_chat`: a group's anonymous admin, a user posting as one of their channels,
a channel post). Telegram hides the person behind such a message, so it is the chat's alone: the
chat pays, is banned or not, and is never recognised as an admin.

Per-identity limits apply to the payer: its daily allowance (`DAILY_QUOTA` for users,
`CHAT_IDENTITY_DAILY_QUOTA` for groups and channels acting as themselves, since anyone can make a
new one in seconds), credits granted by admins, `MAX_ACTIVE_PER_USER` and bans. Chat limits
apply to the chat the message was posted in (`CHAT_DAILY_QUOTA`, `ALLOWED_CHAT_IDS`), and
`GLOBAL_DAILY_QUOTA` to the whole bot. 0 means unlimited, except that
`CHAT_IDENTITY_DAILY_QUOTA=0` means no free allowance (credits only). Admins are never refused.

In a channel every subscriber sees the buttons under the bot's posts, but only the people who run
it decide what appears there (`bot.telegram.members.may_post_by_button` asks Telegram who they are).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.domain.model import QuotaRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessPolicy:
    daily_quota: int = 3
    # Groups and channels acting as themselves; None: as `daily_quota`; 0: credits only.
    chat_identity_daily_quota: int | None = None
    chat_daily_quota: int = 0
    global_daily_quota: int = 0
    max_active_per_user: int = 2
    admin_user_ids: frozenset[int] = frozenset()
    allowed_user_ids: frozenset[int] = frozenset()
    allowed_chat_ids: frozenset[int] = frozenset()

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_user_ids

    def is_allowed(self, user_id: int | None, chat_id: int) -> bool:
        """Open to all unless an allowlist is set; then the user or the chat must be on one."""
        if self.is_admin(user_id) or not (self.allowed_user_ids or self.allowed_chat_ids):
            return True
        return (user_id is not None and user_id in self.allowed_user_ids) or (
            chat_id in self.allowed_chat_ids
        )

    def rules_for(self, user_id: int | None, payer_id: int, chat_id: int) -> QuotaRules:
        """The limits of a request by `user_id` (None: hidden behind a chat), charged to
        `payer_id`, posted in `chat_id`."""
        exempt = self.is_admin(user_id)
        return QuotaRules(
            payer_id=payer_id,
            payer_daily=self.daily_allowance(payer_id),
            chat_daily=_limit(self.chat_daily_quota) if is_group_or_channel(chat_id) else None,
            global_daily=_limit(self.global_daily_quota),
            exempt=exempt,
            active_limit=None if exempt else self.max_active_per_user,
        )

    def daily_allowance(self, payer_id: int) -> int | None:
        """The payer's free videos per day before credits; None: unlimited, 0: credits only."""
        if is_group_or_channel(payer_id) and self.chat_identity_daily_quota is not None:
            return self.chat_identity_daily_quota
        return _limit(self.daily_quota)


def payer_of(user_id: int | None, sender_chat_id: int | None, chat_id: int) -> int:
    """The one identity a request is charged to and banned as: the chat it was sent on behalf
    of (never the group a channel posted in), else the user. A message with neither is a
    channel post as older Bot API versions sent it: the channel's."""
    if sender_chat_id is not None:
        return sender_chat_id
    return user_id if user_id is not None else chat_id


def is_group_or_channel(chat_id: int) -> bool:
    # Telegram gives groups, supergroups and channels negative ids, users positive ones.
    return chat_id < 0


def _limit(value: int) -> int | None:
    return value or None
