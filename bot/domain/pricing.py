"""What a generation costs in credits: the product of its options' factors (COST_RESOLUTION,
COST_DURATION, COST_MODEL); an option not given counts 1, so a request with no options costs 1.
An extension costs what a video with its options costs; an enhanced prompt (`--enhance`) adds
COST_ENHANCE on top. ⬆ Upscale and 🔊 Add sound cost a flat COST_UPSCALE and COST_AUDIO. A story
costs what its shots cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.domain.specs import JobSpec, SoundSpec, StorySpec, UpscaleSpec


@dataclass(frozen=True)
class Prices:
    resolution: Mapping[str, int] = field(default_factory=dict)
    duration: Mapping[str, int] = field(default_factory=dict)  # "5s", "9s"
    model: Mapping[str, int] = field(default_factory=dict)
    enhance: int = 0  # credits added for the prompt helper's enhancement (COST_ENHANCE)
    upscale: int = 1  # COST_UPSCALE, per upscale whatever its size
    audio: int = 1  # COST_AUDIO, per soundtrack

    def cost(self, spec: JobSpec) -> int:
        if isinstance(spec, UpscaleSpec):
            return self.upscale
        if isinstance(spec, SoundSpec):
            return self.audio
        if isinstance(spec, StorySpec):  # every shot, reserved before the first starts
            return sum(self.cost(spec.shot_spec(i, None)) for i in range(len(spec.shots)))
        factors = (
            self.resolution.get(spec.resolution, 1) if spec.resolution else 1,
            self.duration.get(f"{spec.duration_seconds}s", 1) if spec.duration_seconds else 1,
            self.model.get(spec.model, 1) if spec.model else 1,
        )
        cost = 1
        for factor in factors:
            cost *= factor
        return cost + (self.enhance if spec.enhance else 0)

    def listed(self) -> list[tuple[str, int]]:
        """Every option whose price is not 1, as (option, factor): what /quota shows."""
        return [
            (option, factor)
            for prices in (self.resolution, self.duration, self.model)
            for option, factor in prices.items()
            if factor != 1
        ]
