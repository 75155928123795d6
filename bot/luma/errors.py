"""One error class per meaning, as the official `lumaai` SDK does.

The worker decides what to do from the class alone: retry (RateLimit, Server, Connection),
give up and refund (Validation, NotFound), alert the operator (Authentication, Credits), or
treat as ambiguous (Timeout: the request may have been processed).
"""

from __future__ import annotations


class LumaError(Exception):
    """Base for every error the video-API client raises."""

    def __init__(self, message: str, *, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class ValidationError(LumaError):
    """400/422: the API refused the request as invalid. Never retried."""


class AuthenticationError(LumaError):
    """401: the API key is missing or wrong. An operator problem."""


class CreditsError(LumaError):
    """402/403: out of credits or plan limit. An operator problem."""


class NotFoundError(LumaError):
    """404: unknown generation id."""


class RateLimitError(LumaError):
    """429: too many requests or too many concurrent generations."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(LumaError):
    """5xx: the provider failed. Retried for reads."""


class ApiConnectionError(LumaError):
    """The connection could not be opened: the request never reached the API."""


class ApiTimeoutError(LumaError):
    """No complete response in time. The request may or may not have been processed."""


class UnreadableResponseError(ApiTimeoutError):
    """A success status whose body could not be understood: the outcome is unknown."""


class UnsupportedRequestError(LumaError):
    """The configured API family cannot express this request (e.g. a feature it lacks)."""


class UnsupportedOptionError(UnsupportedRequestError):
    """The family has no such option (`option` is the user's name for it: model, res, dur)."""

    def __init__(self, option: str, *, family: str) -> None:
        super().__init__(f"the {family} API has no --{option} option")
        self.option = option
        self.family = family


class DeadlineExceeded(LumaError):
    """The job's overall deadline passed while waiting."""


RETRYABLE = (RateLimitError, ServerError, ApiConnectionError, ApiTimeoutError)
