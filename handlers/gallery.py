"""The gallery Mini App's actions (bot/web/gallery.py asks, having checked who asks and that the
video is theirs): done by the same code as the chat's buttons, answered in the user's private
chat with the bot, and told to the page in one line.

- Send to chat: the stored video again by its file_id (free), as /history's "Send again".
- Again: the same request once more, as the button under a video (the prompt helper afresh).
- Extend: the extension the page's prompt asks for, as a reply to an "Extend" prompt.
Quotas, credits and bans apply as in the chat; a refusal is the page's line, not a message.
"""

from __future__ import annotations

from telegram import Bot
from telegram.ext import Application

from bot.domain.generations import Requester
from bot.domain.model import NO_MESSAGE, Accepted, Job, Refusal
from bot.domain.specs import GenerationSpec, JobSpec, spec_of
from bot.runtime import Runtime, bot_data
from bot.telegram.buttons import Action, encode
from bot.texts import strip_html, text
from bot.web.gallery import ActionOutcome
from bot.web.init_data import WebAppUser
from handlers.extend import extension_spec
from handlers.flow import refusal_text, start_generation
from handlers.history import Resent, resend


class GalleryActions:
    """`bot.web.gallery.GalleryActions` for one application (its bot and runtime)."""

    def __init__(self, application: Application) -> None:
        self._application = application

    @property
    def _bot(self) -> Bot:
        return self._application.bot

    @property
    def _runtime(self) -> Runtime:
        runtime = bot_data(self._application).runtime
        assert runtime is not None  # the web server runs only while the services do
        return runtime

    async def send(self, user: WebAppUser, job: Job) -> ActionOutcome:
        who = requester(user)
        service = self._runtime.service
        refusal = await service.access_refusal(who)
        if refusal is not None:
            return _refused(refusal, who)
        outcome = await resend(self._bot, service, who, job)
        key = {
            Resent.SENT: "gallery_sent",
            Resent.BUSY: "gallery_sending",
            Resent.FAILED: "gallery_send_failed",
        }[outcome]
        return ActionOutcome(done=outcome is not Resent.FAILED, message=_line(key, who))

    async def again(self, user: WebAppUser, job: Job, request_key: str) -> ActionOutcome:
        spec = spec_of(job)
        if isinstance(spec, GenerationSpec):
            spec = spec.fresh()  # the prompt helper runs afresh
        # As the chat's button: pressed again within seconds it is the same request.
        return await self._start(
            requester(user), spec, request_key, press=encode(Action.AGAIN, job.id)
        )

    async def extend(
        self, user: WebAppUser, job: Job, prompt: str, request_key: str
    ) -> ActionOutcome:
        who = requester(user)
        spec = await extension_spec(self._runtime, who, prompt, None, job_id=job.id)
        if isinstance(spec, Refusal):
            return _refused(spec, who)
        return await self._start(who, spec, request_key)

    async def _start(
        self, who: Requester, spec: JobSpec, request_key: str, *, press: str | None = None
    ) -> ActionOutcome:
        outcome = await start_generation(
            self._bot,
            self._runtime,
            who,
            spec,
            request_key=request_key,
            reply_refusals=False,
            press=press,
        )
        if isinstance(outcome, Accepted):
            key = "answer_already_started" if outcome.duplicate else "gallery_started"
            return ActionOutcome(done=True, message=_line(key, who))
        return _refused(outcome, who)


def requester(user: WebAppUser) -> Requester:
    """The gallery's user, asking in their private chat with the bot (whose id is theirs), with
    no message there to reply to."""
    return Requester(
        user_id=user.id,
        chat_id=user.id,
        thread_id=None,
        message_id=NO_MESSAGE,
        payer_id=user.id,
        username=user.username,
        first_name=user.first_name,
        language_code=user.language_code,
    )


def _refused(refusal: Refusal, who: Requester) -> ActionOutcome:
    return ActionOutcome(done=False, message=strip_html(refusal_text(refusal, who.language_code)))


def _line(key: str, who: Requester) -> str:
    return strip_html(text(key, who.language_code))
