"""⬆ Upscale and 🔊 Add sound: what the configured video service can do to a finished video.

The service declares it (`VideoApiClient.can_upscale`, `can_add_audio`); the bot asks that, never
the family's name. An upscale goes up only: the sizes offered are those above the video's own (a
video made without `--res` counts as the service's default, below 1080p).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.model import Job
from bot.luma import VideoApiClient
from bot.luma.models import RESOLUTIONS, UPSCALE_RESOLUTIONS, UpscaleResolution

# Where a video made without --res stands among RESOLUTIONS (720p: Luma's default).
_DEFAULT_RANK = RESOLUTIONS.index("720p")


@dataclass(frozen=True)
class Upgrades:
    upscale: bool = False
    sound: bool = False

    @classmethod
    def of(cls, client: VideoApiClient) -> Upgrades:
        return cls(upscale=client.can_upscale, sound=client.can_add_audio)

    def upscale_sizes(self, job: Job) -> tuple[UpscaleResolution, ...]:
        """The sizes `job`'s video can be upscaled to (none where the service cannot)."""
        if not self.upscale:
            return ()
        current = job.params.get("resolution")
        rank = RESOLUTIONS.index(current) if current in RESOLUTIONS else _DEFAULT_RANK
        return tuple(size for size in UPSCALE_RESOLUTIONS if RESOLUTIONS.index(size) > rank)
