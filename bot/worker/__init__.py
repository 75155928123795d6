"""The worker: carries each accepted job to exactly one ending.

Claim with a lease (`leases`), submit once (`submit`: the double-charge policy), wait for the
result (`wait`), deliver it (`deliver`, with `delivery` and `mp4` for the bytes), and tell the
user (`notices`, `progress`) and the operator (`alerts`). A story (`story`) makes its shots as
jobs of their own, then is delivered as one video, its shots joined by `stitch` (FFmpeg).
`worker` wires the steps, which share one `context` (the job store, the API client, the bot,
the settings, the prompt helper, `fail`).

May import: `bot.domain` (types, specs, the job store interface), `bot.luma`, `bot.llm`,
`bot.telegram`, and the shared leaves at `bot/`'s root. Never `handlers`, `bot.web` or `storage`.
"""
