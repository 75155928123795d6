"""Local emulator of the Luma video APIs: AIML v2, v1 legacy and universal, and Luma direct.

Written only from the HTTP contract (``luma-api.md`` §1-§4 and §7), independently of the bot's
client, so that it can check that client: it imports nothing of the bot (a rule checked in CI).
Run it with ``python -m emulator`` and
point ``LUMA_API_URL`` at it (``<url>/dream-machine/v1`` for Luma direct), or in tests::

    async with run_emulator(EmulatorConfig(queue_seconds=0.05), port=0) as emu:
        ...  # emu.url, emu.requests, emu.generations, emu.inject_fault(...), emu.force_state(...)

Luma callbacks are recorded in ``emu.callbacks`` (:class:`CallbackAttempt`).

Videos are the 9 KB sample unless ``EmulatorConfig(video_size=...)`` / ``video_sizes`` pad it
to real sizes; ``/files/`` streams them with Range support, and counts ``emu.bytes_served`` and
``emu.downloads``.

With ``EmulatorConfig(clips=True)`` every generation's video is its own real clip instead: one
solid colour of :data:`PALETTE` per generation (red, green, blue, ...), an extension's clip
holding its source's (``extend_includes_source``); see ``emulator/clips.py``.

Image keyframe URLs are fetched like Luma does (``emu.image_fetches``); pass
``EmulatorConfig(fetch_images=False)`` to only validate them as URIs.
"""

from emulator.callbacks import CallbackAttempt
from emulator.clips import PALETTE, ClipSpec, Colour
from emulator.config import EmulatorConfig
from emulator.core import EMULATOR_KEY, Emulator
from emulator.faults import Fault
from emulator.images import ImageFetch
from emulator.recording import RecordedRequest
from emulator.server import create_app, run_emulator
from emulator.state import FAILURE_REASONS, Generation, Script, State

__all__ = [
    "EMULATOR_KEY",
    "FAILURE_REASONS",
    "PALETTE",
    "CallbackAttempt",
    "ClipSpec",
    "Colour",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "Generation",
    "ImageFetch",
    "RecordedRequest",
    "Script",
    "State",
    "create_app",
    "run_emulator",
]
