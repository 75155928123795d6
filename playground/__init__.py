"""The playground: the whole bot on one machine, with no Telegram account and no API key.

`bot_api/` and `fake_telegram.py` are a local Telegram Bot API server: a strict fake of
Telegram's, which the test suite also drives the bot against.
"""
