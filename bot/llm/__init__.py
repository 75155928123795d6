"""The prompt helper's language model: an OpenAI-compatible chat-completions API (client.py)
and what the bot asks of it (helper.py)."""

from bot.llm.client import ChatClient, ChatError
from bot.llm.helper import HelpOutcome, PromptHelper, Rewrite, looks_english

__all__ = ["ChatClient", "ChatError", "HelpOutcome", "PromptHelper", "Rewrite", "looks_english"]
