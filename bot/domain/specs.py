"""What a job asks for, as stored in its row: prompt options and keyframe *references*.

Photos are stored as Telegram file ids, never as URLs: a signed link is made only when the job is
submitted (bot/links.py), so nothing token-bearing or expiring is ever persisted.

Three kinds of spec, one per kind of request: `GenerationSpec` (a video from a prompt, photos or
another video), `UpscaleSpec` (⬆ Upscale: a delivered video at a higher resolution) and
`SoundSpec` (🔊 Add sound). Each has `kind`, `prompt`, `parent_job_id`, `params()` (what the row
stores) and `video_request()` (the API request); `spec_of(job)` reads any job's back.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.model import Job
from bot.links import LinkSigner, MediaRef
from bot.llm import HelpOutcome
from bot.luma.models import (
    DEFAULT_ASPECT_RATIO,
    AspectRatio,
    AudioRequest,
    DurationSeconds,
    GenerationKeyframe,
    ImageKeyframe,
    Keyframe,
    Model,
    Resolution,
    UpscaleRequest,
    UpscaleResolution,
    VideoRequest,
)


class TelegramImage(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["telegram_file"] = "telegram_file"
    file_id: str
    mime_type: str = "image/jpeg"


class ParentVideo(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["generation"] = "generation"
    id: str  # the API's generation id
    job_id: int  # our job that made it


Frame = Annotated[TelegramImage | ParentVideo, Field(discriminator="type")]


class PromptHelp(BaseModel):
    """The prompt helper's part in a job (bot/llm): whether the user asked for an enhanced
    prompt, and at what price; once the helper ran, what came of it and what was sent."""

    model_config = ConfigDict(frozen=True)

    enhance: bool = False  # --enhance, or the Improve button
    cost: int = 0  # credits charged for the enhancement: given back if the helper failed
    outcome: HelpOutcome | None = None  # None: the helper has not run yet
    sent: str | None = None  # the prompt the API got, when the helper changed it

    @property
    def done(self) -> bool:
        return self.outcome is not None


# The kinds of job a GenerationSpec makes: each has a prompt of the user's to send.
GENERATION_KINDS = frozenset({"text", "image", "extend"})

# Choices stored only when made, so rows from before they existed look the same.
_OPTIONAL_CHOICES = ("model", "resolution", "duration_seconds", "camera", "helper")


class GenerationSpec(BaseModel):
    """A request in the bot's terms; `params()` is what the job row stores."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO
    loop: bool = False
    frame0: Frame | None = None
    frame1: Frame | None = None
    parent_job_id: int | None = None
    # None: the family's default (older job rows lack these fields).
    model: Model | None = None
    resolution: Resolution | None = None
    duration_seconds: DurationSeconds | None = None
    camera: str | None = None  # a key of bot.luma.camera.CAMERA_MOVES
    helper: PromptHelp | None = None  # None: the helper was not asked, and has not run

    @property
    def enhance(self) -> bool:
        return self.helper is not None and self.helper.enhance

    @property
    def sent_prompt(self) -> str:
        """The prompt the API gets: the helper's, once it rewrote it; else the user's."""
        return self.helper.sent if self.helper is not None and self.helper.sent else self.prompt

    def fresh(self) -> GenerationSpec:
        """The same request as the user made it, before the helper ran (Again)."""
        if self.helper is None:
            return self
        asked = PromptHelp(enhance=True) if self.helper.enhance else None
        return self.model_copy(update={"helper": asked})

    def helped(self, help: PromptHelp) -> GenerationSpec:
        return self.model_copy(update={"helper": help})

    @property
    def kind(self) -> str:
        frames = (self.frame0, self.frame1)
        if any(isinstance(frame, ParentVideo) for frame in frames):
            return "extend"
        if any(isinstance(frame, TelegramImage) for frame in frames):
            return "image"
        return "text"

    @property
    def has_images(self) -> bool:
        return any(isinstance(frame, TelegramImage) for frame in (self.frame0, self.frame1))

    def params(self) -> dict[str, Any]:
        unset = {name for name in _OPTIONAL_CHOICES if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude={"prompt", "parent_job_id", *unset})

    @classmethod
    def from_job(
        cls, prompt: str, params: dict[str, Any], parent_job_id: int | None
    ) -> GenerationSpec:
        return cls.model_validate({**params, "prompt": prompt, "parent_job_id": parent_job_id})

    def video_request(
        self, signer: LinkSigner | None, *, callback_url: str | None = None
    ) -> VideoRequest:
        """The API request, with photos as fresh signed links (ValueError without a signer)."""
        return VideoRequest(
            prompt=self.sent_prompt,
            aspect_ratio=self.aspect_ratio,
            loop=self.loop,
            frame0=_keyframe(self.frame0, signer),
            frame1=_keyframe(self.frame1, signer),
            model=self.model,
            resolution=self.resolution,
            duration_seconds=self.duration_seconds,
            camera=self.camera,
            callback_url=callback_url,
        )


def _keyframe(
    frame: TelegramImage | ParentVideo | None, signer: LinkSigner | None
) -> Keyframe | None:
    if frame is None:
        return None
    if isinstance(frame, ParentVideo):
        return GenerationKeyframe(id=frame.id)
    if signer is None:
        raise ValueError("photo keyframes need PUBLIC_URL to be set")
    return ImageKeyframe(url=signer.link(MediaRef(frame.file_id, frame.mime_type)))


class UpscaleSpec(BaseModel):
    """⬆ Upscale: the source video made again at `resolution` (a new generation)."""

    model_config = ConfigDict(frozen=True)
    kind: ClassVar[str] = "upscale"

    prompt: str  # the source job's: captions and /history stay readable
    source: ParentVideo
    resolution: UpscaleResolution
    # The source's shape, carried so that an extension of the result keeps it.
    aspect_ratio: AspectRatio | None = None

    @property
    def parent_job_id(self) -> int:
        return self.source.job_id

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "source": self.source.model_dump(mode="json"),
            "resolution": self.resolution,
        }
        if self.aspect_ratio:
            params["aspect_ratio"] = self.aspect_ratio
        return params

    def video_request(
        self, signer: LinkSigner | None = None, *, callback_url: str | None = None
    ) -> UpscaleRequest:
        return UpscaleRequest(
            generation_id=self.source.id, resolution=self.resolution, callback_url=callback_url
        )


class SoundSpec(BaseModel):
    """🔊 Add sound: the source video with a soundtrack (a new generation); no `sound` prompt
    lets the video service choose."""

    model_config = ConfigDict(frozen=True)
    kind: ClassVar[str] = "audio"

    prompt: str  # the source job's: captions and /history stay readable
    source: ParentVideo
    sound: str | None = None  # stored as params["prompt"]
    # The source's, carried so that the video's Upscale button offers only sizes above it, and
    # an extension of the result keeps its shape.
    resolution: Resolution | None = None
    aspect_ratio: AspectRatio | None = None

    @property
    def parent_job_id(self) -> int:
        return self.source.job_id

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"source": self.source.model_dump(mode="json")}
        if self.sound:
            params["prompt"] = self.sound
        if self.resolution:
            params["resolution"] = self.resolution
        if self.aspect_ratio:
            params["aspect_ratio"] = self.aspect_ratio
        return params

    def video_request(
        self, signer: LinkSigner | None = None, *, callback_url: str | None = None
    ) -> AudioRequest:
        return AudioRequest(
            generation_id=self.source.id, prompt=self.sound, callback_url=callback_url
        )


class Shot(BaseModel):
    """One shot of a story: what happens, and whether it starts fresh (`cut`, after `---`)
    instead of continuing the shot before."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    cut: bool = False
    camera: str | None = None  # a key of bot.luma.camera.CAMERA_MOVES


# What a story's prompt column shows: the shots, in order.
SHOT_SEPARATOR = " | "


class StorySpec(BaseModel):
    """/story: several shots made one after another (each continuing the one before, unless
    after a cut) and delivered as one video. The story is a job of its own; each shot is a
    child job (`story_job_id`) made by the worker when its turn comes."""

    model_config = ConfigDict(frozen=True)
    kind: ClassVar[str] = "story"

    shots: tuple[Shot, ...] = Field(min_length=1)
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO
    model: Model | None = None
    resolution: Resolution | None = None
    duration_seconds: DurationSeconds | None = None
    frame0: TelegramImage | None = None  # a photo captioned /story: shot 1's first frame

    @property
    def prompt(self) -> str:
        return SHOT_SEPARATOR.join(shot.prompt for shot in self.shots)

    @property
    def parent_job_id(self) -> None:
        return None

    @property
    def has_images(self) -> bool:
        return self.frame0 is not None

    def params(self) -> dict[str, Any]:
        unset = {name for name in ("model", "resolution", "duration_seconds", "frame0")}
        unset = {name for name in unset if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=unset)

    def shot_spec(self, index: int, previous: ParentVideo | None) -> GenerationSpec:
        """Shot `index` as a video request: continuing `previous` (the shot before, unless
        this one is a cut), or from the story's photo (shot 1)."""
        shot = self.shots[index]
        frame0: Frame | None = previous if previous is not None and not shot.cut else None
        if index == 0:
            frame0 = self.frame0
        return GenerationSpec(
            prompt=shot.prompt,
            aspect_ratio=self.aspect_ratio,
            frame0=frame0,
            parent_job_id=frame0.job_id if isinstance(frame0, ParentVideo) else None,
            model=self.model,
            resolution=self.resolution,
            duration_seconds=self.duration_seconds,
            camera=shot.camera,
        )


JobSpec = GenerationSpec | UpscaleSpec | SoundSpec | StorySpec


def spec_of(job: Job) -> JobSpec:
    """What `job` asked for, by its kind: the worker submits it, Again asks for it once more."""
    if job.kind == UpscaleSpec.kind:
        return UpscaleSpec.model_validate({**job.params, "prompt": job.prompt})
    if job.kind == SoundSpec.kind:
        params = job.params
        return SoundSpec(
            prompt=job.prompt,
            source=ParentVideo.model_validate(params["source"]),
            sound=params.get("prompt"),
            resolution=params.get("resolution"),
            aspect_ratio=params.get("aspect_ratio"),
        )
    if job.kind == StorySpec.kind:
        return StorySpec.model_validate(job.params)
    return GenerationSpec.from_job(job.prompt, job.params, job.parent_job_id)
