"""What the fake records and keeps: calls (``Call``), flood refusals, files, the URLs it fetched
(``UrlFetch``), webhook deliveries, Telegram Stars payments (``SentInvoice``,
``StarTransaction``, ``PaymentAttempt``), and the scripted faults waiting for a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from playground.bot_api.protocol import ApiError


@dataclass
class Call:
    """One request the bot made (recorded when answered; rejected ones too).

    ``params``: form/multipart values stay strings (``"1001"``, ``"true"``), JSON-string fields
    (``reply_markup``, ``reply_parameters``, ``entities``, ...) are decoded; a JSON request body
    keeps its native types. ``files`` / ``filenames``: multipart file parts by part name (with
    ``keep_uploads=False`` each is ``b""`` once the call is recorded); ``sizes``: their sizes in
    bytes, always kept.
    ``response`` is None when no answer was delivered: ``lost`` = processed anyway
    (``lose_response_next``); not ``lost`` = the client gave up during a ``delay_next``.
    ``at`` / ``answered_at``: ``time.monotonic()`` when the call arrived and when the fake was done
    with it (answered, or recorded as lost or given up): how long a long poll or a ``delay_next``
    held it, by the fake's own clock. ``delayed``: the ``delay_next`` seconds applied, 0 if none.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    token: str = ""
    path: str = ""
    at: float = 0.0
    answered_at: float = 0.0
    delayed: float = 0.0
    response: dict | None = None
    lost: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")


class FloodRefusal(NamedTuple):
    """A call refused with 429 by the flood limits (``FakeTelegram.flood_refusals``).

    ``chat_id``: an int, the raw string (``"@channel"``) or None (inline edits). ``at``: the
    ``flood_clock`` time (``time.monotonic()`` unless a fake clock was given)."""

    method: str
    chat_id: int | str | None
    retry_after: int
    at: float


@dataclass
class StoredFile:
    """A file Telegram holds: uploaded, fetched from a URL, or added by the test.

    ``data``: its bytes; None for URL media the fake did not fetch (``fetch_urls=False``), for
    bytes it did not keep (``keep_uploads=False``), and for a video thumbnail until its first
    ``getFile`` (made then, see ``bot_api/media.py``). ``size``: how many bytes Telegram got, kept
    or not (None only for URL media not fetched); ``file_size`` in the Bot API's answers.
    ``head``: the first bytes, kept even when ``data`` is not (what kind of file it is).
    ``thumbnail``: a video's thumbnail PhotoSize as answered (again when sent by file_id).
    """

    file_id: str
    file_unique_id: str
    kind: str  # photo | video | document
    data: bytes | None
    file_path: str | None = None
    mime_type: str | None = None
    file_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # width/height/duration
    size: int | None = None
    head: bytes = b""
    thumbnail: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.size is None and self.data is not None:
            self.size = len(self.data)

    @property
    def dropped(self) -> bool:
        """Received, but its bytes were not kept (``keep_uploads=False``)."""
        return self.data is None and self.size is not None


@dataclass(frozen=True)
class UrlFetch:
    """One media URL the fake fetched as Telegram does (``FakeTelegram.url_fetches``, in order).

    ``url``: as the bot gave it; ``redirects``: the URLs it was sent on to, in order. ``status``:
    the last HTTP status (None when no answer came). ``error``: None when the file was taken,
    else why not, e.g. ``"HTTP 404"``, ``"timed out after 10s"``, ``"over the 20971520-byte
    limit"``, ``"a text/html page"``, ``"more than 5 redirects"``, ``"empty body"``, ``"not a
    local address"`` (the fake never reaches the internet), or the connection error.
    ``bytes_read``: body bytes read (reading stops just past the limit). ``content_type``: as
    answered. ``at``: ``time.monotonic()`` when the fetch started; ``elapsed``: its duration.
    """

    url: str
    status: int | None
    error: str | None
    bytes_read: int
    at: float
    elapsed: float = 0.0
    content_type: str | None = None
    redirects: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Upload:
    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class _Fault:
    error: ApiError | None  # fail_next
    remaining: int
    delay: float = 0.0  # delay_next
    lose: bool = False  # lose_response_next ...
    hold: float = 60.0  # ... keeping the connection open this long (or until the client leaves)
    garble: bool = False  # garble_next
    odd_answer: dict[str, Any] | None = None  # answer_oddly_next: the body answered instead


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to a webhook (``FakeTelegram.webhook_deliveries``).

    ``target``: the URL posted to. ``status``: the HTTP status, None when no answer came.
    ``error``: None on a 2xx, else what Telegram would report ("Wrong response from the webhook:
    500 Internal Server Error", "Connection refused", "Read timeout expired", "cancelled" when the
    webhook was deleted/replaced or the fake closed meanwhile). ``at``: ``time.monotonic()`` when
    the attempt started; ``elapsed``: its duration. ``redelivery``: the extra copy sent because of
    ``duplicate_rate``.
    """

    update_id: int
    target: str
    status: int | None
    error: str | None
    at: float
    elapsed: float = 0.0
    redelivery: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


@dataclass
class SentInvoice:
    """An invoice the bot sent with ``sendInvoice`` (``FakeTelegram.invoices``, in order).

    ``payload``: the bot's invoice payload, which Telegram never shows the user; ``prices``: the
    ``LabeledPrice`` list as sent; ``message``: the invoice message as it was answered to the bot.
    ``paid_by``: the users who paid it (the user's app then shows "Receipt" instead of "Pay").
    """

    chat_id: int
    message_id: int
    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    total_amount: int
    message: dict[str, Any]
    paid_by: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class StarTransaction:
    """One Telegram Star transaction of the bot (``FakeTelegram.star_transactions``, in order).

    A payment: ``amount`` > 0 (Stars received), ``id`` = its ``telegram_payment_charge_id``.
    A refund (``refundStarPayment``): the same ``id``, ``amount`` < 0 (Stars given back).
    ``getStarTransactions`` shows both as the Bot API does (``to_api``): ``amount`` always
    positive, the user as ``source`` of a payment and as ``receiver`` of a refund.
    """

    id: str
    amount: int
    date: int
    user: dict[str, Any]
    invoice_payload: str

    @property
    def charge_id(self) -> str:
        return self.id

    @property
    def user_id(self) -> int:
        return int(self.user["id"])

    @property
    def is_refund(self) -> bool:
        return self.amount < 0

    def to_api(self) -> dict[str, Any]:
        """The ``StarTransaction`` object of the Bot API (fields in the server's order)."""
        partner = {
            "transaction_type": "invoice_payment",
            "type": "user",
            "user": dict(self.user),
            "invoice_payload": self.invoice_payload,
        }
        side = "receiver" if self.is_refund else "source"
        return {"id": self.id, "date": self.date, side: partner, "amount": abs(self.amount)}


@dataclass(frozen=True)
class PaymentAttempt:
    """What ``FakeTelegram.user_pays`` did.

    ``paid``: the user was charged (a ``StarTransaction`` was recorded), ``charge_id`` its
    ``telegram_payment_charge_id`` (None when not paid). ``pre_checkout``: the
    ``answerPreCheckoutQuery`` call that answered the query (None when none did in time).
    ``error``: why it was not paid: the bot's ``error_message`` when it answered ``ok=false``,
    or ``"the bot did not answer the pre-checkout query in time"``; None when paid.
    ``query``: the ``pre_checkout_query`` sent; ``messages``: the ``successful_payment``
    messages queued for the bot (none with ``deliver=False``, two with ``deliver_twice``).
    """

    paid: bool
    charge_id: str | None
    pre_checkout: Call | None
    error: str | None
    query: dict[str, Any] = field(default_factory=dict)
    messages: tuple[dict[str, Any], ...] = ()


@dataclass
class _PreCheckout:
    """An open pre-checkout query: answerable once, until ``deadline`` (``time.monotonic()``)."""

    deadline: float
    answer: tuple[bool, str] | None = None  # (ok, error_message) once answered


@dataclass
class _Described:
    """A method result answered with a ``description`` too (the webhook methods)."""

    result: Any
    description: str


@dataclass(frozen=True)
class _WebhookConfig:
    url: str
    max_connections: int
    secret_token: str
    ip_address: str
    has_custom_certificate: bool


@dataclass
class InlineAnswer:
    """An accepted ``answerInlineQuery``: the query it answered (``query`` as the user typed
    it, ``offset`` as sent), the results as sent (decoded JSON), and the options as Telegram
    read them."""

    inline_query_id: str
    user_id: int
    query: str
    offset: str
    results: list[dict]
    cache_time: int | None
    is_personal: bool
    next_offset: str

    @property
    def ids(self) -> list[str]:
        return [str(result["id"]) for result in self.results]

    @property
    def file_ids(self) -> list[str]:
        return [str(result.get("video_file_id")) for result in self.results]


@dataclass
class _InlineQuery:
    user_id: int
    query: str
    offset: str
