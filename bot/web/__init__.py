"""The bot's own HTTP server and what it serves: the server and its routes (`server`), signed
photo links (`media`), health (`health`), Telegram's webhook (`webhook`) and the video
provider's callbacks (`provider_callbacks`).

May import: `bot.domain`, `bot.worker`, `bot.telegram`, `bot.luma` and the shared leaves.
Never `handlers` (updates reach them through PTB's Application) or `storage`.
"""
