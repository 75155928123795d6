"""Telegram plumbing below the handlers: the HTTP transport PTB talks through (`transport`),
flood-limit pacing (`pacing`), at-least-once polling (`polling`), update de-duplication
(`updates`) and the typed data of inline buttons (`buttons`).

May import: the shared leaves at `bot/`'s root only. Nothing here decides what a request means.
"""
