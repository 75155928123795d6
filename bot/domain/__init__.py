"""The domain: what a request is, who may make it and what it costs, and how a job ends.

`jobs` holds the shared types (`Job`, `JobState`, `FailureCode` and its refund policy, quota
outcomes, `Refusal`); `stores` the storage interfaces the domain needs, one per consumer;
`generations` the service every entry point calls; `access`, `admin`, `albums`, `specs` the
rules beside it; `payments` (with its records, `stars`) sells credits for Telegram Stars.

May import: `bot.luma` (the video API's types and client), `bot.telegram` (button data, pure),
and the shared leaves at `bot/`'s root (`config`, `texts`, `links`, `numbers`, `logs`,
`metrics`). Never `handlers`, `bot.web`, `bot.worker` or `storage` (which implements
`stores`), so the rules can be read and tested without Telegram or SQL.
"""
