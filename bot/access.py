"""Who may use the bot and how much: admins, allowlists, bans, and the daily limits.

Every request has a payer: the user who sent it, or the chat itself when nobody in particular
did (a channel post, an anonymous group admin). The payer's daily allowance (`DAILY_QUOTA`,
plus credits granted by admins), the chat's (`CHAT_DAILY_QUOTA`, groups and channels) and the
bot's (`GLOBAL_DAILY_QUOTA`) all apply; 0 means unlimited. Admins are never refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import QuotaRules


@dataclass(frozen=True)
class AccessPolicy:
    daily_quota: int = 3
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

    def rules_for(self, user_id: int | None, chat_id: int) -> QuotaRules:
        exempt = self.is_admin(user_id)
        return QuotaRules(
            payer_id=payer_of(user_id, chat_id),
            payer_daily=_limit(self.daily_quota),
            chat_daily=_limit(self.chat_daily_quota) if is_group_or_channel(chat_id) else None,
            global_daily=_limit(self.global_daily_quota),
            exempt=exempt,
            active_limit=None if exempt else self.max_active_per_user,
        )


def payer_of(user_id: int | None, chat_id: int) -> int:
    return user_id if user_id is not None else chat_id


def is_group_or_channel(chat_id: int) -> bool:
    # Telegram gives groups, supergroups and channels negative ids, users positive ones.
    return chat_id < 0


def _limit(value: int) -> int | None:
    return value or None
