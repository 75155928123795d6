"""The worker: carries each accepted job to exactly one ending.

Claim with a lease (`leases`), submit once (`submit`: the double-charge policy), wait for the
result (`wait`), deliver it (`deliver`, with `delivery` and `mp4` for the bytes), and tell the
user (`notices`, `progress`) and the operator (`alerts`). `worker` wires the steps, which share
one `context` (the job store, the API client, the bot, the settings, `fail`).

May import: `bot.domain` (types, specs, the job store interface), `bot.luma`, `bot.telegram`,
and the shared leaves at `bot/`'s root. Never `handlers`, `bot.web` or `storage`.
"""
