"""The parts of the fake Bot API that ``playground/fake_telegram.py`` puts together as
``FakeTelegram``; tests import from there, not from here.

Each part is a mixin over the state they share (``FakeState``), one concern each:

- ``protocol``: what the Bot API accepts: methods, parameters, values, error answers
- ``records``: what the fake records and keeps: ``Call``, ``FloodRefusal``, ``StoredFile``,
  ``UrlFetch``, ``SentInvoice``, ``StarTransaction``, ``PaymentAttempt``, ...
- ``entities``: Telegram-HTML and bot commands as message entities, UTF-16 lengths
- ``state``: ``FakeState``: options, chats, messages, users, files, the update queue, waiting
- ``server``: the HTTP routes, reading and checking a request, recording and answering it
- ``faults``: scripted faults (``fail_next``, ``delay_next``, ``lose_response_next``, ...)
- ``flood``: Telegram's flood limits (opt-in)
- ``messages``: ``sendMessage``, the edits, ``deleteMessage``, ``sendChatAction``
- ``media``: ``sendVideo``, ``sendDocument``, ``sendPhoto``, ``editMessageMedia``, ``getFile``,
  and fetching media URLs like Telegram
- ``thumbnails``: video thumbnails (sizes, and the JPEG of the first frame, made by FFmpeg only
  when first fetched)
- ``chats``: ``getChat``, ``getChatMember``, who is what in a chat
- ``callbacks``: button presses and ``answerCallbackQuery``
- ``inline``: inline queries (``user_sends_inline_query``) and ``answerInlineQuery``
- ``payments``: Telegram Stars: ``sendInvoice``, pre-checkout queries, ``user_pays``, refunds,
  ``getStarTransactions``
- ``web_apps``: Mini Apps: ``setChatMenuButton``, ``getChatMenuButton``, and the signed initData
  and launch URL a client hands a Mini App (``web_app_init_data``, ``web_app_url``)
- ``updates``: ``getUpdates`` (long polling)
- ``webhook``: the webhook methods and delivering updates by POST
- ``users``: the test's side: what users do (``user_sends``, ``channel_posts``, ...)
- ``inspection``: the test's side: what the bot did (``calls_of``, ``videos``, ``wait_for_*``)

A part imports ``protocol``, ``records``, ``entities`` and ``state``, and no sibling but these:
``media``, ``payments`` and ``inline`` build on ``messages``, ``media`` uses ``thumbnails``,
``web_apps`` the URL check of ``messages``, ``server`` builds on ``faults`` and ``flood``.
"""
