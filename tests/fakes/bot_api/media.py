"""Media and files: ``sendVideo``, ``sendDocument``, ``sendPhoto``, ``editMessageMedia`` (also a
text message turned into a video), ``getFile``; uploads (50 MB -> 413), ``attach://`` parts, URLs
(recorded, never fetched) and known file ids; downloads over 20 MB refused.
"""

from __future__ import annotations

import copy
import mimetypes
import re
import time
from typing import Any

from tests.fakes.bot_api.messages import MessageMethods
from tests.fakes.bot_api.protocol import (
    _MEDIA_KEYS,
    _NOT_MODIFIED,
    _WRONG_FILE,
    ApiError,
    _as_int,
    _bad,
)
from tests.fakes.bot_api.records import StoredFile, _Upload


class MediaMethods(MessageMethods):
    """The media methods, and files a test registers (``add_file``) or looks at (``file``)."""

    async def _m_sendVideo(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, _ = self._media(p, uploads, "video", "video")
        for key in ("width", "height", "duration"):
            if p.get(key) is not None:
                stored.meta[key] = _as_int(p[key], key)
            stored.meta.setdefault(key, 0)
        stored.mime_type = stored.mime_type or "video/mp4"
        video = self._file_json(stored, "width", "height", "duration")
        return self._send(p, {"video": video, **caption})

    async def _m_sendDocument(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, _ = self._media(p, uploads, "document", "document")
        return self._send(p, {"document": self._file_json(stored), **caption})

    async def _m_sendPhoto(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, new = self._media(p, uploads, "photo", "photo")
        if new and stored.data is not None:  # a fresh upload: Telegram builds the sizes
            del self._files[stored.file_id]
            sizes = self._photo_sizes(stored.data, 1280, 720)
        else:
            stored.meta.setdefault("width", 1280)
            stored.meta.setdefault("height", 720)
            sizes = [self._file_json(stored, "width", "height")]
        for size in sizes:
            size.pop("mime_type", None)
            size.pop("file_name", None)
        return self._send(p, {"photo": sizes, **caption})

    async def _m_editMessageMedia(self, p: dict, uploads: dict) -> dict:
        """Replace a message's media, or add media to a text message (Bot API 7.x+)."""
        stored = self._editable(p, "edit")
        media = p["media"]
        if not isinstance(media, dict) or "media" not in media:
            raise _bad("can't parse InputMedia: Media is not specified")
        kind = media.get("type")
        if kind not in ("photo", "video", "document"):
            raise _bad("can't parse InputMedia: unsupported media type")
        caption = self._caption(media)
        file, _ = self._media({"file": media["media"]}, uploads, "file", kind)
        if kind == "video":
            for key in ("width", "height", "duration"):
                if media.get(key) is not None:
                    file.meta[key] = _as_int(media[key], key)
                file.meta.setdefault(key, 0)
            file.mime_type = file.mime_type or "video/mp4"
            content: dict[str, Any] = {
                "video": self._file_json(file, "width", "height", "duration")
            }
        elif kind == "photo":
            file.meta.setdefault("width", 1280)
            file.meta.setdefault("height", 720)
            size = self._file_json(file, "width", "height")
            size.pop("mime_type", None)
            size.pop("file_name", None)
            content = {"photo": [size]}
        else:
            content = {"document": self._file_json(file)}
        markup = self._markup(p)
        old = {k: stored.get(k) for k in (*content, "caption", "caption_entities", "reply_markup")}
        new = {**content, "caption": caption.get("caption"), "reply_markup": markup}
        new["caption_entities"] = caption.get("caption_entities")
        if old == new:
            raise _bad(_NOT_MODIFIED)
        for key in ("text", "entities", "link_preview_options", *_MEDIA_KEYS):
            stored.pop(key, None)
        for key, value in new.items():
            self._set_or_drop(stored, key, value)
        stored["edit_date"] = int(time.time())
        return copy.deepcopy(stored)

    async def _m_getFile(self, p: dict, uploads: dict) -> dict:
        stored = self._files.get(str(p["file_id"]))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.data is not None and len(stored.data) > self.download_limit:
            raise _bad("file is too big")
        if stored.data is not None and stored.file_path is None:
            ext = mimetypes.guess_extension(stored.mime_type or "") or ".bin"
            if stored.file_name and "." in stored.file_name:
                ext = "." + stored.file_name.rsplit(".", 1)[1]
            folder = {"photo": "photos", "video": "videos"}.get(stored.kind, "documents")
            stored.file_path = f"{folder}/file_{next(self._seq)}{ext}"
            self._paths[stored.file_path] = stored
        out = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            out.update(file_size=len(stored.data), file_path=stored.file_path)
        return out

    def _media(
        self, p: dict, uploads: dict[str, _Upload], name: str, kind: str
    ) -> tuple[StoredFile, bool]:
        """Resolve an upload, an ``attach://`` part, a URL or a known file_id -> (file, new?)."""
        ref = p.get(name)
        upload = uploads.get(name)
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = uploads.get(ref[len("attach://") :])
            if upload is None:
                raise _bad(_WRONG_FILE)
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            if len(upload.data) > self.upload_limit:
                raise ApiError(413, "Request Entity Too Large")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            stored = self._register(upload.data, kind, mime_type=mime, file_name=upload.filename)
            return stored, True
        if isinstance(ref, str) and re.match(r"https?://", ref):
            return self._register(None, kind, mime_type=mimetypes.guess_type(ref)[0]), True
        stored = self._files.get(str(ref))
        if stored is None:
            raise _bad(_WRONG_FILE)
        if {stored.kind, kind} == {"photo", "video"}:
            raise _bad(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored, False

    def add_file(self, data: bytes, file_path: str = "photos/file_1.jpg") -> str:
        """Register downloadable bytes; returns the new ``file_id``."""
        kind = {"photos": "photo", "videos": "video"}.get(file_path.split("/")[0], "document")
        return self._register(data, kind, file_path=file_path).file_id

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)
