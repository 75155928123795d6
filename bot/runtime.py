"""The live services of one bot process, reachable from handlers through the Application."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from telegram.ext import Application

from bot.config import Settings
from bot.domain.admin import AdminService
from bot.domain.albums import AlbumCollector
from bot.domain.generations import GenerationService
from bot.links import LinkSigner
from bot.luma import VideoApiClient
from bot.web.server import WebServer
from bot.worker.worker import Worker
from storage.base import Repository

_KEY = "runtime"


@dataclass
class Runtime:
    settings: Settings
    repository: Repository
    http: aiohttp.ClientSession
    client: VideoApiClient
    worker: Worker
    service: GenerationService
    signer: LinkSigner | None
    web: WebServer
    albums: AlbumCollector

    @property
    def admin(self) -> AdminService:
        return AdminService(self.repository, self.service.policy)


def attach(application: Application, runtime: Runtime) -> None:
    # bot_data holds only this in-process handle, never durable state (see DESIGN.md).
    application.bot_data[_KEY] = runtime


def runtime_of(application: Application) -> Runtime:
    return application.bot_data[_KEY]


def find(application: Application) -> Runtime | None:
    return application.bot_data.get(_KEY)


def detach(application: Application) -> Runtime | None:
    return application.bot_data.pop(_KEY, None)
