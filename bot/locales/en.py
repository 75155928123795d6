"""English: the complete catalog, and the fallback for every other language.

Messages are Telegram HTML with `{name}` placeholders; `bot.texts.text()` fills and escapes them.
"""

from __future__ import annotations

from typing import Final

EN: Final[dict[str, str]] = {
    "help": (
        "🎬 <b>I turn your words and photos into short AI videos</b> (Luma Dream Machine).\n\n"
        "<b>Make a video</b>\n"
        "/video <i>what should happen</i>\n"
        "Example: <code>/video a jellyfish drifting through space, cinematic</code>\n\n"
        "<b>Start from a photo</b>: send a photo with <code>/video …</code> as its caption; add "
        "<code>--end</code> to make it the last frame instead. Send two photos as an album "
        "(caption on one) for the first and the last frame.\n\n"
        "<b>Continue a video</b>: reply to one of my videos with "
        "<code>/extend what happens next</code> (<code>--reverse</code> for what came before), "
        "or tap ➕ Extend under it. A photo captioned <code>/extend …</code> as a reply "
        "continues the video toward that picture.\n\n"
        "{story_line}"
        "<b>Options</b> (anywhere in the prompt)\n"
        "• <code>--ar 9:16</code> or just <code>9:16</code> at the start or end: aspect ratio, "
        "one of {ratios} (default 16:9)\n"
        "• <code>--loop</code>: a seamless loop\n"
        "• <code>--camera orbit_left</code>: a camera move, one of {camera_moves}\n"
        "{more_options}\n"
        "A video takes a minute or two; I keep you posted and send it here.\n"
        "/quota: what you can still make today · /history: your videos, to send again or "
        "extend\n"
        "{buy_line}"
        "{inline_line}"
        "{quota_line}"
    ),
    "help_more_options": (
        "• <code>--model ray-flash-2</code>: the faster, cheaper model (default ray-2)\n"
        "• <code>--res 720p</code>: resolution, one of 540p, 720p, 1080p, 4k\n"
        "• <code>--dur 9s</code>: length, 5s or 9s\n"
    ),
    "quota_line_limited": "You can make <b>{left}</b> of {limit} videos today (resets 00:00 UTC).",
    "quota_line_unlimited": "You have no daily limit.",
    "usage": (
        "Tell me what the video should show, for example:\n"
        "<code>/video a jellyfish drifting through space</code>\n"
        "Options: <code>--ar 9:16</code> (aspect ratio), <code>--loop</code>. See /help."
    ),
    "unknown_option": (
        "I don't know the option <code>{option}</code> here. Valid options: {valid} "
        "(<code>--ar</code> takes one of {ratios})."
    ),
    "option_needs_value": (
        "<code>{option}</code> needs a value, for example <code>--ar 9:16</code>."
    ),
    "option_takes_no_value": (
        "<code>{option}</code> takes no value; just write <code>{option}</code>."
    ),
    "invalid_ratio": (
        "<code>{value}</code> is not an aspect ratio I can make. Use one of: {ratios}."
    ),
    "invalid_model": "<code>{value}</code> is not a model I know. Use one of: {valid}.",
    "invalid_resolution": (
        "<code>{value}</code> is not a resolution I can ask for. Use one of: {valid}."
    ),
    "invalid_duration": "<code>{value}</code> is not a length I can make. Use {valid}.",
    "invalid_camera": (
        "<code>{value}</code> is not a camera move I know. Use one of: {valid}. Nothing was "
        "charged."
    ),
    "option_unsupported": (
        "The video service this bot uses ({family}) has no <code>{option}</code> option. "
        "Send the request again without it; nothing was charged."
    ),
    "conflicting_ratios": (
        "You gave two aspect ratios ({first} and {second}). Please keep just one."
    ),
    "prompt_too_long": (
        "Your prompt is {length} characters long; the limit is {limit} "
        "(most emoji count as two). Please shorten it and send it again."
    ),
    "prompt_too_short": "Your prompt is too short. Describe the scene in a few words.",
    "quota_exhausted_user": (
        "You've used all {limit} free credits for today. "
        "Your allowance resets at 00:00 UTC, in {resets_in}."
    ),
    "quota_not_enough_credits": (
        "This video costs <b>{cost}</b> credits; you have {free} free today and {balance} of "
        "your own. Choose cheaper options, or wait for tomorrow's free credits "
        "(00:00 UTC, in {resets_in})."
    ),
    "quota_not_enough_credits_story": (
        "This story costs <b>{cost}</b> credits (all its shots, reserved before the first); "
        "you have {free} free today and {balance} of your own. Try fewer shots or cheaper "
        "options, or wait for tomorrow's free credits (00:00 UTC, in {resets_in})."
    ),
    "quota_exhausted_chat": (
        "This chat has used all {limit} credits for today. It resets at 00:00 UTC, in {resets_in}."
    ),
    "quota_credits_only": (
        "Videos asked for on behalf of a group or channel need credits from the bot's admins. "
        "Send the request from your own account instead."
    ),
    "quota_exhausted_global": (
        "I've spent all {limit} credits I can today. Please try again after 00:00 UTC, "
        "in {resets_in}."
    ),
    "banned": "Sorry, you can't make videos with this bot.",
    "quota_self": "🎟 Free credits left today: <b>{left}</b> ({used} of {limit} used).",
    "quota_self_unlimited": "🎟 You have no daily limit.",
    "quota_credits": "💎 Your credits: <b>{credits}</b> (used after the free ones; they keep).",
    "quota_chat": "This chat: <b>{left}</b> of {limit} credits left today.",
    "quota_prices": "A video costs 1 credit; these options multiply it: {prices}.",
    "duration_hours": "{hours}h {minutes}m",
    "duration_minutes": "{minutes}m",
    "duration_seconds": "{seconds}s",
    "quota_resets": "Daily limits reset at 00:00 UTC, in {resets_in}.",
    "admin_only": "That command is for the bot's admins.",
    "admin_usage_grant": (
        "Usage: <code>/grant &lt;user id or @username&gt; &lt;number&gt;</code>, "
        "e.g. <code>/grant @ann 5</code> (a negative number takes credits away)."
    ),
    "admin_usage_ban": (
        "Usage: <code>/{command} &lt;user id, @username, or group or channel id&gt;</code>"
    ),
    "admin_unknown_target": (
        "I don't know {target}. Use a numeric id, or the @username of someone who has "
        "written to me."
    ),
    "admin_granted": "Done: {target} now has <b>{balance}</b> extra credits.",
    "admin_banned": "{target} is banned: they can't make videos any more.",
    "admin_already_banned": "{target} was already banned.",
    "admin_unbanned": "{target} is no longer banned.",
    "admin_not_banned": "{target} wasn't banned.",
    "admin_stats": (
        "📊 <b>{period}</b>\n"
        "Videos: {generations} · delivered {delivered} · in progress {active}\n"
        "Quota used: {charged}\n"
        "Failures: {failures}\n"
        "Top payers: {payers}\n"
        "Top chats: {chats}"
    ),
    "admin_stats_today": "Today (since 00:00 UTC)",
    "admin_stats_week": "Last 7 days",
    "admin_stats_none": "none",
    # Promo codes (/promo, /redeem, deep links) and invitations (/invite)
    "promo_usage": (
        "Usage: <code>/promo &lt;code&gt; &lt;credits&gt; [uses] [days]</code>, e.g. "
        "<code>/promo SPRING25 5 100 30</code>: 5 credits for each of the first 100 to redeem "
        "it, for 30 days. The code is 3 to 32 letters A–Z, digits, _ or -, not "
        "<code>BUY</code> and not starting with <code>REF</code>; credits 1 to 10000; "
        "uses and days left out or 0: no limit."
    ),
    "promo_exists": (
        "The code <code>{code}</code> exists already and stays as it is. Pick another name."
    ),
    "promo_created": (
        "🎁 Promo code <code>{code}</code>: <b>{credits}</b> credits for each person, group "
        "or channel that redeems it · {uses} · {expires}.\n"
        "Link: {link}\nOr send <code>/redeem {code}</code>."
    ),
    "promo_uses_left": "{uses} uses left",
    "promo_uses_unlimited": "no limit on uses",
    "promo_expires": "valid until {date} UTC",
    "promo_no_expiry": "no expiry",
    "redeem_usage": (
        "Send the promo code you were given after the command, e.g. "
        "<code>/redeem SPRING25</code> (letters, digits, _ and -)."
    ),
    "promo_redeemed": (
        "🎁 Code <code>{code}</code> redeemed: <b>{credits}</b> credits added. "
        "Your balance: <b>{balance}</b> credits (used after the daily allowance; see /quota)."
    ),
    "promo_unknown": "I don't know the code <code>{code}</code>. Check its spelling.",
    "promo_already_redeemed": (
        "You have already redeemed <code>{code}</code>: each code works once for each person "
        "(or group or channel)."
    ),
    "promo_expired": "Sorry, the code <code>{code}</code> has expired.",
    "promo_used_up": "Sorry, the code <code>{code}</code> has been used up.",
    "admin_stats_promos": "🎁 <b>Active promo codes</b>:",
    "admin_stats_promo": (
        "<code>{code}</code>: {credits} credits · redeemed {redeemed} · {uses} · {expires}"
    ),
    "invite": (
        "👥 Your invitation link:\n{link}\n"
        "When someone starts the bot with it for the first time and then buys credits, "
        "you get <b>{credits}</b> credits."
    ),
    "invite_off": "There is no invitation bonus on this bot at the moment.",
    "invite_per_user": (
        "Invitation links are personal: send /invite from your own account "
        "(not as a channel or an anonymous admin)."
    ),
    "help_invite": "👥 /invite: your link for friends; you get {credits} credits when one buys.",
    "command_invite": "Invite friends and earn credits",
    "extend_in_channel": (
        "In a channel, reply to the video post with /extend and what should happen next."
    ),
    "command_quota": "How many videos you can still make today",
    "not_allowed": "Sorry, this bot is private. Ask its owner for access.",
    "status_queued": "⏳ <b>Queued</b>: “{prompt}”\n{elapsed} elapsed",
    "status_queued_ahead": (
        "⏳ <b>Queued</b>: “{prompt}”\n{ahead} ahead of yours · {elapsed} elapsed"
    ),
    "status_busy": (
        "⏳ <b>Queued</b>: “{prompt}”\nThe video service is busy; I'll keep trying. "
        "{ahead} ahead of yours · {elapsed} elapsed"
    ),
    "status_service_position": (
        "⏳ <b>Queued</b>: “{prompt}”\nNo. {position} in the video service's queue · "
        "{elapsed} elapsed"
    ),
    "status_service_wait": (
        "⏳ <b>Queued</b>: “{prompt}”\nAbout {wait} to wait · {elapsed} elapsed"
    ),
    "status_dreaming": "🎬 <b>Dreaming</b>: “{prompt}”\n{elapsed} elapsed",
    "status_dreaming_wait": (
        "🎬 <b>Dreaming</b>: “{prompt}”\nAbout {wait} to go · {elapsed} elapsed"
    ),
    "status_delivering": "📤 <b>Uploading</b> your video…",
    "video_ready": "✅ Your video is ready.",
    "caption": "🎬 {prompt}\n{helped}{details} · <code>{generation_id}</code>",
    "video_link": (
        "🎬 {prompt}\nYour video is ready but too large to upload here ({size_mb} MB). "
        "Download it within the hour: {url}\n<code>{generation_id}</code>"
    ),
    "failed_moderation": (
        "😔 The video service declined this request ({reason}). "
        "Try rewording the prompt. Your quota was refunded."
    ),
    "failed_generation": (
        "😔 The video could not be made ({reason}). You can try again; your quota was refunded."
    ),
    "failed_timeout": (
        "⌛ The video took too long and I stopped waiting. Your quota was refunded; "
        "please try again later."
    ),
    "failed_image": (
        "😔 The video service couldn't use your picture ({reason}). "
        "Try a different photo; your quota was refunded."
    ),
    "failed_credits": (
        "🛠 The bot's video budget is used up for now (the operator has been told). "
        "Your quota was refunded; please try again later."
    ),
    "admin_alert_auth": (
        "⚠️ The video API rejects the bot's API key (<code>LUMA_API_KEY</code>): {detail}\n"
        "Video requests fail until it is fixed."
    ),
    "admin_alert_credits": (
        "⚠️ The video API account is out of credits: {detail}\n"
        "Video requests fail until it is topped up."
    ),
    "admin_recovered": "✅ The video API accepts requests again.",
    "failed_rejected": (
        "😔 The video service rejected this request: {reason}. Your quota was refunded."
    ),
    "failed_service": (
        "🛠 The video service is unavailable right now (the bot's operator has been told). "
        "Your quota was refunded; please try again later."
    ),
    "failed_uncertain": (
        "⚠️ The video service did not confirm your request, so I did not resend it "
        "(that could charge twice). Your quota was refunded; please send it again."
    ),
    "failed_unsupported": (
        "This video service does not support that ({reason}). Your quota was refunded."
    ),
    "failed_delivery": (
        "😔 Your video was made but I could not send it here. The video service charged for it, "
        "so it counts toward your daily limit."
    ),
    "failed_not_video": (
        "😔 The video service said your video was ready, but what it sent is not a video, "
        "so nothing was posted. Your quota was refunded."
    ),
    "failed_internal": (
        "😔 Something went wrong on my side and I could not finish your video. "
        "Your quota was refunded."
    ),
    "internal_error": "Something went wrong on my side. Please try again in a moment.",
    "needs_public_url": (
        "To use photos as keyframes, the bot's operator must set <code>PUBLIC_URL</code> "
        "(the address where this bot's web server can be reached). "
        "Text-only videos work without it: /video <i>your prompt</i>."
    ),
    "loop_with_end_frame": (
        "<code>--loop</code> can't be combined with an end frame: the video service refuses it. "
        "Drop <code>--loop</code>, or use the photo as the first frame."
    ),
    "loop_with_reverse": (
        "<code>--loop</code> can't be combined with <code>--reverse</code>: "
        "the video service refuses it. Drop one of them."
    ),
    "unsupported_feature": "This video service can't do that: {reason}. Nothing was charged.",
    "too_many_photos": (
        "I can use at most two photos: the first and the last frame. You sent {count}. "
        "Send one or two photos with <code>/video</code> in the caption."
    ),
    "extend_one_photo": (
        "<code>/extend</code> takes one photo at most (the picture to continue toward), not an "
        "album. Reply to my video with a single photo captioned "
        "<code>/extend what happens next</code>. Nothing was charged."
    ),
    "unsupported_file": (
        "I can only use JPEG, PNG or WEBP images as keyframes, and {name} isn't one. "
        "Send it as a photo or as an image file."
    ),
    "video_not_a_keyframe": (
        "I can't start from a video: only photos (or JPEG, PNG and WEBP files) can be keyframes. "
        "Send the command again as text or as a photo's caption. To continue one of my videos, "
        "reply to it with <code>/extend what happens next</code>. Nothing was charged."
    ),
    "sound_not_a_keyframe": (
        "I can't use sound: a video is made from your prompt and, if you like, one or two "
        "photos. Send the command again as text or as a photo's caption. Nothing was charged."
    ),
    "album_two_commands": (
        "One album makes one video, but more than one of its captions holds a command, so I "
        "can't tell which you mean. Put <code>/video …</code> in one caption only, or send the "
        "photos separately. Nothing was charged."
    ),
    "album_video_left_out": ("ℹ️ I left out the video in your album: only photos can be keyframes."),
    "album_videos_left_out": (
        "ℹ️ I left out the {count} videos in your album: only photos can be keyframes."
    ),
    "extend_usage": (
        "Reply to one of my videos with <code>/extend what happens next</code>, or write "
        "<code>/extend &lt;generation id&gt; what happens next</code> (the id is in my captions). "
        "Add <code>--reverse</code> to make a video that leads into it."
    ),
    "extend_other_bot": (
        "That video isn't one of mine, so I can't continue it. Reply to a video I made."
    ),
    "extend_not_my_video": (
        "That message isn't one of my videos. Reply to a video I made, "
        "or use <code>/extend &lt;generation id&gt; …</code>."
    ),
    "unknown_generation": (
        "I don't know a video with the id <code>{generation_id}</code>. "
        "Copy the id from one of my captions."
    ),
    "parent_not_ready": (
        "That video isn't finished (or it failed), so it can't be extended yet. "
        "Try again once I've delivered it."
    ),
    "parent_other_family": (
        "That video was made through a different video service than the one I use now, "
        "so it can't be extended."
    ),
    "extend_prompt": (
        "{mention}, what should happen next? Reply to this message with the continuation "
        "(options such as <code>--reverse</code> work too)."
    ),
    "extend_placeholder": "What happens next…",
    "button_extend": "➕ Extend",
    "button_again": "🔁 Again",
    "button_buy": "🛒 Buy credits",
    # Selling credits for Telegram Stars (handlers/payments.py)
    "command_buy": "Buy credits with Telegram Stars",
    "help_buy": "/buy: more videos with credits bought with Telegram Stars\n",
    "buy_packs": (
        "🛒 <b>Credits</b>, paid with Telegram Stars ⭐. They are spent when your free daily "
        "videos are used up, and they never expire. You have <b>{balance}</b>.\n"
        "Pick a pack:"
    ),
    "buy_pack_button": "{credits} credits · {stars} ⭐",
    "buy_nothing_for_sale": "Nothing is for sale right now.",
    "buy_in_private_alert": "Credits are bought in a private chat with me, @{bot}.",
    "support_contact_none": "the bot's operator",
    "buy_in_private": "Credits are bought in a private chat with me: tap the button.",
    "buy_pack_gone": "That pack is no longer offered. Send /buy for what is for sale now.",
    "buy_banned": "Sorry, you can't buy credits with this bot.",
    "invoice_title": "{credits} credits",
    "invoice_description": (
        "{credits} credits for videos: spent when your free daily videos are used up, "
        "they never expire. Terms: /terms"
    ),
    "invoice_label": "{credits} credits",
    "checkout_unknown": "This invoice is not one I can take. Send /buy for a new one.",
    "checkout_not_yours": ("This invoice was made for someone else. Send /buy to me for your own."),
    "checkout_price_changed": (
        "This pack is no longer offered at this price. Nothing was charged: "
        "send /buy for the current packs."
    ),
    "checkout_banned": "Sorry, you can't buy credits with this bot. Nothing was charged.",
    "payment_received": (
        "✅ Payment received: <b>+{credits}</b> credits. You now have <b>{balance}</b>. "
        "Make a video with /video."
    ),
    "payment_unmatched": (
        "I received your payment but could not match it to a pack. Nothing is lost: write to "
        "{contact} with the payment id <code>{charge_id}</code>."
    ),
    "referral_bonus": (
        "🎁 Someone you invited made their first purchase: <b>+{credits}</b> credits for you. "
        "You now have <b>{balance}</b>."
    ),
    "paysupport": (
        "💬 <b>Help with payments</b>\n"
        "Write to {contact}, with the payment id from your receipt (or the time you paid). "
        "Refunds follow the /terms."
    ),
    "terms": (
        "📄 <b>Terms of sale</b>\n"
        "• Credits are sold for Telegram Stars in the packs /buy shows. A video is paid from "
        "your free daily allowance first, then with credits. Credits never expire.\n"
        "• A video that fails gives its credits back; Stars are never refunded for it.\n"
        "• The bot's operator refunds Stars on request ({contact}). A refund takes the pack's "
        "credits back, as many as are left: credits already spent are not charged again.\n"
        "• Packs and prices may change; a purchase keeps what it was sold for."
    ),
    "refund_usage": "Usage: <code>/refund &lt;telegram_payment_charge_id&gt;</code>",
    "refund_unknown": "I have no payment <code>{charge_id}</code>.",
    "refund_already": "Payment <code>{charge_id}</code> has already been refunded.",
    "refund_refused": "Telegram refused the refund ({reason}). Nothing was changed.",
    "refund_done": (
        "↩️ Refunded {stars} ⭐ to {target}. Of the pack's {credits} credits, {taken} were "
        "taken back; their balance is now {balance}."
    ),
    "refund_notice": (
        "↩️ Your payment of {stars} ⭐ was refunded, and {taken} credits were taken back. "
        "You now have <b>{balance}</b>."
    ),
    "admin_stats_payments": (
        "Stars: {earned} ⭐ earned · {purchases} purchases ({stars_in} ⭐) · "
        "{refunds} refunds ({stars_out} ⭐)"
    ),
    "channel_admins_only": "Only the channel's admins can use these buttons.",
    "button_invalid": "This button no longer works.",
    "answer_again": "Making it again…",
    "flood_slow_down": (
        "⏳ That is a lot of messages at once, so I am skipping some. "
        "Wait a few seconds before sending more."
    ),
    "answer_already_started": "Already on its way: its progress is in the chat.",
    "answer_extend": "Reply to my message with what happens next.",
    "command_extend": "Continue one of my videos (reply to it)",
    "command_cancel": "Cancel a video in progress",
    "button_cancel": "✖ Cancel",
    "cancelled": (
        "🛑 Cancelled before it reached the video service: nothing was spent, "
        "and your quota was refunded."
    ),
    "cancelled_at_service": (
        "🛑 Cancelled: the video service stopped making it, and your quota was refunded."
    ),
    "cancel_too_late": (
        "This video is already being made by the video service and can't be stopped there. "
        "It will arrive here, and it counts against today's allowance."
    ),
    "cancel_nothing": "You have no video in progress here.",
    "cancel_not_yours": "Only the person who asked for this video can cancel it.",
    "answer_cancelled": "Cancelled; your quota was refunded.",
    "answer_cancel_too_late": "Too late to cancel: it is already being made.",
    "too_many_active": (
        "You already have {active} videos in progress (the limit is {limit}). "
        "Wait for one to arrive, or /cancel one."
    ),
    "command_video": "Make a video from a text prompt",
    "command_help": "How to use this bot",
    # /history
    "command_history": "Your recent videos",
    "history_title": "🎞 <b>Your videos</b> · page {page}/{pages} · {total} in all (times in UTC)",
    "history_title_chat": (
        "🎞 <b>Your videos in this chat</b> · page {page}/{pages} · {total} in all (times in UTC)"
    ),
    "history_entry": "<b>#{number}</b> · {kind} · {date} · {state}\n“{prompt}”",
    "history_kind_text": "text",
    "history_kind_image": "from a photo",
    "history_kind_extend": "extension",
    "history_state_delivered": "✅ delivered",
    "history_state_active": "⏳ in progress",
    "history_state_cancelled": "🛑 cancelled",
    "history_state_failed": "❌ failed",
    "history_state_failed_reason": "❌ failed: {reason}",
    "history_reason_moderation": "declined by moderation",
    "history_reason_image_rejected": "the picture was refused",
    "history_reason_generation_failed": "the service could not make it",
    "history_reason_timeout": "took too long",
    "history_reason_delivery_failed": "could not be sent",
    "history_empty": (
        "You haven't made any videos yet. Try "
        "<code>/video a jellyfish drifting through space</code>."
    ),
    "history_empty_chat": (
        "You haven't made any videos in this chat yet. Try "
        "<code>/video a jellyfish drifting through space</code>."
    ),
    "history_per_user": (
        "History is kept per person: send /history from your own account "
        "(not as a channel or an anonymous admin)."
    ),
    "history_not_yours": "This list belongs to someone else.",
    "history_button_again": "🔁 Send again #{number}",
    "history_button_extend": "➕ Extend #{number}",
    "history_button_previous": "◀",
    "history_button_next": "▶",
    "history_answer_resent": "Sent again.",
    "history_answer_resending": "Already on its way.",
    "history_resend_failed": "I couldn't send this video again.",
    "enhance_unavailable": (
        "<code>--enhance</code> needs a prompt helper, and this bot has none configured. "
        "Send the request without it; nothing was charged."
    ),
    "button_improve": "✨ Improve",
    "improve_started": "✨ I'll turn your prompt into a detailed one before sending it.",
    "improve_already": "This prompt is already being improved.",
    "improve_too_late": "Too late: the request is already on its way to the video service.",
    "improve_not_yours": "Only the person who asked for this video can change it.",
    "caption_enhanced": "✨ {prompt}\n",
    "caption_translated": "🌐 {prompt}\n",
    "caption_helper_failed": (
        "⚠️ The prompt helper didn't answer, so your prompt was sent as you wrote it.\n"
    ),
    "help_enhance": (
        "• <code>--enhance</code>: I first rewrite your idea as a detailed cinematic prompt "
        "(or tap ✨ Improve while it waits){cost}\n"
    ),
    "help_enhance_cost": " for {cost} more credits, only if it works",
    "help_translate": "Write in any language: I put prompts into English for the video service.\n",
    "quota_enhance_price": "<code>--enhance</code> adds {cost} credits.",
    # ⬆ Upscale and 🔊 Add sound (handlers/upgrades.py)
    "button_upscale": "⬆ Upscale",
    "button_sound": "🔊 Add sound",
    "button_upscale_1080p": "⬆ 1080p",
    "button_upscale_4k": "⬆ 4K",
    "button_back": "↩ Back",
    "answer_upscale_sizes": "Pick a size.",
    "answer_upscale": "Upscaling…",
    "answer_sound": "Reply to my message with the sound you want.",
    "answer_sound_started": "Adding sound…",
    "upscale_unavailable": (
        "Upscaling isn't available with this bot's video service. Nothing was charged."
    ),
    "sound_unavailable": (
        "Adding sound isn't available with this bot's video service. Nothing was charged."
    ),
    "upscale_at_top": "This video can't be upscaled to that size. Nothing was charged.",
    "upgrade_not_ready": (
        "Only a video I have delivered can be upscaled or given sound. Nothing was charged."
    ),
    "upgrade_other_family": (
        "That video was made through a different video service than the one I use now, "
        "so it can't be upscaled or given sound."
    ),
    "sound_prompt": (
        "{mention}, what should it sound like? Reply to this message with a description "
        "(for example: waves and distant thunder), or with <code>-</code> to let the video "
        "service choose."
    ),
    "sound_placeholder": "Rain, footsteps, distant thunder…",
    "sound_any_word": "auto",
    "caption_upscaled": "⬆ upscaled to {resolution}",
    "caption_sound": "🔊 sound: {sound}",
    "caption_sound_any": "🔊 with sound",
    "history_kind_upscale": "upscale",
    "history_kind_audio": "with sound",
    "quota_upgrade_prices": "⬆ Upscale costs {upscale} credits; 🔊 Add sound costs {audio}.",
    # /story (handlers/story.py, bot/worker/story.py)
    "command_story": "Several shots, one long video",
    "story_usage": (
        "Write the shots one per line (or separated by <code>|</code>), options on the first "
        "line:\n<code>/story --ar 9:16\na paper boat on a puddle\nthe boat drifts into a "
        "stream\n---\nthe stream becomes a river at sunset</code>\nEach shot continues the one "
        "before; a line <code>---</code> is a hard cut."
    ),
    "story_too_many_shots": (
        "That story has {count} shots; a story can have at most {limit}. Nothing was charged."
    ),
    "story_one_photo": (
        "A story starts from one photo at most: send a single photo captioned "
        "<code>/story …</code>."
    ),
    "story_status": "🎞 <b>Story</b> · {count} shots · {elapsed} elapsed\n{shots}",
    "story_shot_done": "✅ {number}. {cut}{prompt}",
    "story_shot_making": "🎬 {number}. {cut}{prompt}",
    "story_shot_waiting": "⏳ {number}. {cut}{prompt}",
    "story_shot_failed": "❌ {number}. {cut}{prompt}",
    "story_caption": "🎞 {count} shots · {details}\n{shots}{stopped}",
    "story_caption_shot": "{number}. {prompt} · <code>{generation_id}</code>",
    "story_stopped": (
        "\n⚠️ Shot {shot} could not be made, so the story ends before it; the {unmade} shots "
        "not made were refunded."
    ),
    "story_stopped_by_request": (
        "\n⏹ Stopped at your request after {made} of {count} shots; the shots not made "
        "({unmade}) were given back."
    ),
    "story_shot_dropped": "⏹ {number}. {cut}{prompt}",
    "story_status_stopping": (
        "⏹ Stopping at your request: no more shots; the shots made will be sent as the story."
    ),
    # /cancel on a story (plain text: also a button's alert, 200 characters at most)
    "story_stopping": (
        "⏹ Stopping your story: no more shots will be made. The shots made so far will be sent "
        "as the story, and the shots never made ({unmade} of {count}) are given back."
    ),
    "story_stopping_after_shot": (
        "⏹ Stopping your story after shot {shot}, which the video service is already making. "
        "The shots made will be sent as the story; those never made ({unmade} of {count}) are "
        "given back."
    ),
    "story_cancel_last_shot": (
        "Too late to stop: the last shot is already being made by the video service and can't "
        "be stopped there, so the whole story will arrive."
    ),
    "story_already_stopping": (
        "⏹ Your story is already stopping: the shots made will be sent as the story, and the "
        "shots never made are given back."
    ),
    "story_cancel_too_late": (
        "Too late to cancel: every shot of this story is made, and they are being joined into "
        "one video. It will arrive shortly."
    ),
    "history_kind_story": "story",
    "help_story": (
        "<b>Tell a story</b>: <code>/story</code> with one shot per line makes them one after "
        "another and sends one long video (<code>---</code> between two shots for a cut).\n\n"
    ),
    # Inline mode (`@Bot <words>` in any chat): a result's lines under the title, plain text.
    "inline_description": "{date} UTC · {details}",
    "inline_untitled": "Your video",
    "help_inline": (
        "📤 Share a video in any chat: type <code>@{bot_username} </code> and a few words of "
        "its prompt.\n"
    ),
    # --- the gallery Mini App (bot/web/gallery.py; the page shows these as plain text) ---
    "gallery_title": "Your videos",
    "gallery_all_chats": "All chats",
    "gallery_private_chat": "Private chat",
    "gallery_empty": "No videos here yet. Make one in the chat with /video.",
    "gallery_load_more": "Show more",
    "gallery_send": "Send to chat",
    "gallery_extend": "Extend",
    "gallery_again": "Again",
    "gallery_extend_placeholder": "What happens next?",
    "gallery_extend_start": "Start",
    "gallery_cancel": "Cancel",
    "gallery_play": "Play",
    "gallery_generation_id": "Generation id",
    "gallery_failed": "That did not work. Check your connection and try again.",
    "gallery_sent": "Sent to your chat with the bot.",
    "gallery_started": "Started: follow it in your chat with the bot.",
    "gallery_send_failed": (
        "I couldn't send this video. Open the chat with the bot and press Start, then try again."
    ),
    "gallery_sending": "Already sending it.",
    "gallery_auth_missing": "Open this page from the bot in Telegram.",
    "gallery_auth_invalid": (
        "This page could not prove who you are. Close it and open it again from the bot."
    ),
    "gallery_auth_stale": (
        "This page has been open too long. Close it and open it again from the bot."
    ),
    "gallery_not_allowed": "You can't use this bot.",
    "gallery_not_found": "That video is not in your gallery.",
    "gallery_chat_unknown": "That chat is not in your gallery.",
    "gallery_bad_request": "The page sent something I don't understand. Reload it and try again.",
    "gallery_extend_no_prompt": "Write what should happen next, then press Start.",
    "gallery_too_fast": "That is a lot of requests at once. Wait a few seconds, then try again.",
    "button_gallery": "🎞 Open the gallery",
    "menu_gallery": "🎞 Gallery",
}
