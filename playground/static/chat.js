// The playground's chat page: a Telegram-like app over the fake Bot API, and the emulator panel.
// No framework and no build step (CSP: script-src 'self'). Every string shown comes from the
// state's `texts`; message text reaches the page through textContent and DOM nodes built from
// the Bot API's entities, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const list = $("messages");
  const text = $("text");
  const NEAR_BOTTOM = 160; // px: a new message scrolls the chat when it is this close
  const TOAST_MS = 3500;
  const PHOTO_SIDE = 1280; // Telegram's apps send photos at most this large
  const PANEL_QUERY = window.matchMedia("(max-width: 1100px)");
  const DEEP_LINK_HOSTS = new Set(["t.me", "telegram.me", "www.t.me"]);

  const model = {
    texts: {},
    bot: { id: 0, name: "", username: "" },
    identities: {},
    limits: { text: 4096, caption: 1024, photos: 2 },
    chats: new Map(), // id -> {id, kind, title, senders, messages: Map, force_reply, unread}
    order: [], // chat ids as listed
    commands: [],
    current: null,
    senders: new Map(), // chat id -> identity key chosen in "Send as"
    reply: null, // {message_id, forced}
    dismissed: new Set(), // "chat:message" ForceReply prompts the user closed
    photos: [], // [{blob, url}]
    pressed: new Map(), // query id -> button
    commandIndex: 0,
    opening: null, // a chat to open once it is listed
  };
  let toastTimer = 0;
  let pinned = true; // the chat is scrolled to its end, and stays there as media loads

  // --- small helpers ------------------------------------------------------------------------

  const t = (key, vars) => {
    let value = typeof model.texts[key] === "string" ? model.texts[key] : key;
    for (const [name, v] of Object.entries(vars || {})) value = value.split(`{${name}}`).join(v);
    return value;
  };

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") el.textContent = value;
      else if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
    return el;
  }

  function svg(path) {
    const NS = "http://www.w3.org/2000/svg";
    const icon = document.createElementNS(NS, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", path);
    icon.append(p);
    return icon;
  }
  const REPLY_ICON = "M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z";
  const LINK_ICON =
    "M19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7h-2v7zM14 3v2h3.59l-9.83 9.83 1.41 1.41L19 6.41V10h2V3h-7z";
  const FILE_ICON =
    "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8l-6-6zm4 18H6V4h7v5h5v11z";

  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => box.classList.remove("shown"), TOAST_MS);
  }

  function alertBox(message) {
    const dialog = $("alert");
    $("alert-text").textContent = message;
    if (!dialog.open) dialog.showModal();
  }

  async function api(path, body) {
    const init = { method: "POST", cache: "no-store" };
    if (body instanceof FormData) init.body = body;
    else {
      init.body = JSON.stringify(body || {});
      init.headers = { "Content-Type": "application/json" };
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      toast(t("reconnecting"));
      return null;
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      toast(data.error || `HTTP ${response.status}`);
      return null;
    }
    return data;
  }

  const chat = () => model.chats.get(model.current);
  const senderKey = (c) => model.senders.get(c.id) || c.senders[0];
  // The person behind the sender (Ann behind the anonymous admin and the channel).
  const personKey = (c) => (["ann", "bob"].includes(senderKey(c)) ? senderKey(c) : "ann");

  function colourOf(id) {
    return `c${Math.abs(Number(id) || 0) % 7}`;
  }

  function initials(name) {
    const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
    return ((words[0] || "?")[0] + (words[1] ? words[1][0] : "")).toUpperCase();
  }

  function avatar(name, id, extra) {
    return h("div", { class: `avatar ${colourOf(id)} ${extra || ""}`, "aria-hidden": "true" },
      initials(name));
  }

  function sizeLabel(bytes) {
    if (!bytes) return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  const clock = (unix) =>
    new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  function dayLabel(unix) {
    const day = new Date(unix * 1000);
    const today = new Date();
    const yesterday = new Date(today.getTime() - 86400000);
    if (day.toDateString() === today.toDateString()) return t("today");
    if (day.toDateString() === yesterday.toDateString()) return t("yesterday");
    return day.toLocaleDateString([], { day: "numeric", month: "long", year: "numeric" });
  }

  // --- who wrote what -----------------------------------------------------------------------

  function authorOf(entry) {
    const m = entry.message;
    if (entry.bot) return { name: model.bot.name, id: model.bot.id };
    if (m.sender_chat) return { name: m.sender_chat.title || "", id: m.sender_chat.id };
    if (m.from) return { name: m.from.first_name || "", id: m.from.id };
    return { name: "", id: 0 };
  }

  function isMine(c, entry) {
    if (entry.bot) return false;
    if (c.kind !== "group") return true;
    const m = entry.message;
    const me = model.identities[senderKey(c)] || {};
    if (["group", "channel"].includes(senderKey(c))) {
      return Boolean(m.sender_chat) && m.sender_chat.id === me.id;
    }
    return !m.sender_chat && Boolean(m.from) && m.from.id === me.id;
  }

  function snippet(m) {
    if (!m) return "";
    const words = m.text || m.caption || "";
    if (m.video) return words || t("video");
    if (m.photo) return words || t("photo");
    if (m.document) return m.document.file_name || t("file");
    if (m.invoice) return `${t("invoice")}: ${m.invoice.title}`;
    if (m.successful_payment) return `⭐ ${m.successful_payment.total_amount}`;
    if (m.refunded_payment) return `⭐ ${m.refunded_payment.total_amount}`;
    return words;
  }

  // --- message text with entities -----------------------------------------------------------

  function safeUrl(raw) {
    try {
      const url = new URL(/^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `http://${raw}`);
      return ["http:", "https:"].includes(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  }

  function entityNode(entity, body) {
    switch (entity.type) {
      case "bold": return h("strong");
      case "italic": return h("em");
      case "underline": return h("u");
      case "strikethrough": return h("s");
      case "code": return h("code");
      case "pre": {
        const pre = h("pre");
        if (entity.language) pre.dataset.language = entity.language;
        return pre;
      }
      case "blockquote":
      case "expandable_blockquote":
        return h("blockquote");
      case "spoiler":
        return h("span", { class: "spoiler", title: t("spoiler"), tabindex: "0" });
      case "text_link":
      case "url": {
        const href = safeUrl(entity.type === "url" ? body : entity.url || "");
        if (!href) return h("span", { class: "mention" }); // tg://user?id=... and the like
        return h("a", { href, target: "_blank", rel: "noopener noreferrer", "data-link": href });
      }
      case "bot_command": return h("span", { class: "command", "data-command": body });
      case "mention":
      case "text_mention":
      case "hashtag":
      case "cashtag":
      case "email":
      case "phone_number":
        return h("span", { class: "mention" });
      default: return h("span");
    }
  }

  // Entities nest (bold inside a link, ...); offsets and lengths are UTF-16 code units, as JS
  // strings are, so the text is sliced directly.
  function richText(body, entities) {
    const sorted = (entities || [])
      .filter((e) => Number.isInteger(e.offset) && Number.isInteger(e.length) && e.length > 0)
      .filter((e) => e.offset >= 0 && e.offset + e.length <= body.length)
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    function build(start, end, inside) {
      const out = document.createDocumentFragment();
      let pos = start;
      let i = 0;
      while (i < inside.length) {
        const e = inside[i];
        const stop = e.offset + e.length;
        if (e.offset < pos) {
          i += 1; // overlaps the one before: Telegram never sends that
          continue;
        }
        const children = [];
        let j = i + 1;
        for (; j < inside.length && inside[j].offset < stop; j += 1) {
          if (inside[j].offset + inside[j].length <= stop) children.push(inside[j]);
        }
        out.append(body.slice(pos, e.offset));
        const node = entityNode(e, body.slice(e.offset, stop));
        const target = node.tagName === "PRE" ? node.appendChild(h("code")) : node;
        target.append(build(e.offset, stop, children));
        out.append(node);
        pos = stop;
        i = j;
      }
      out.append(body.slice(pos, end));
      return out;
    }
    return build(0, body.length, sorted);
  }

  // --- one message --------------------------------------------------------------------------

  function mediaClass(width, height) {
    if (!width || !height) return "landscape";
    return height > width ? "portrait" : width === height ? "square" : "landscape";
  }

  function mediaNode(m) {
    if (m.video) {
      const v = m.video;
      return h("video", {
        class: `media ${mediaClass(v.width, v.height)}`,
        src: `/api/files/${encodeURIComponent(v.file_id)}`,
        controls: true,
        playsinline: true,
        preload: "metadata",
        width: v.width || null,
        height: v.height || null,
        "data-file": v.file_id,
        "data-testid": "video",
      });
    }
    if (m.photo && m.photo.length) {
      const p = m.photo.reduce((a, b) => ((b.width || 0) > (a.width || 0) ? b : a));
      return h("img", {
        class: `media ${mediaClass(p.width, p.height)}`,
        src: `/api/files/${encodeURIComponent(p.file_id)}`,
        alt: t("photo"),
        width: p.width || null,
        height: p.height || null,
        loading: "lazy",
        "data-testid": "photo",
      });
    }
    if (m.document) {
      const d = m.document;
      return h("a", {
        class: "document",
        href: `/api/files/${encodeURIComponent(d.file_id)}`,
        download: d.file_name || "file",
      },
        h("span", { class: "document-icon" }, svg(FILE_ICON)),
        h("span", { class: "document-text" },
          h("strong", { text: d.file_name || t("file") }),
          h("small", { text: sizeLabel(d.file_size) })));
    }
    return null;
  }

  function invoiceNode(c, entry) {
    const inv = entry.message.invoice;
    const price = h("div", { class: "invoice-price", text: `⭐ ${inv.total_amount}` });
    return h("div", { class: "invoice" },
      h("div", { class: "invoice-label", text: t("invoice") }),
      h("strong", { class: "invoice-title", text: inv.title }),
      h("p", { class: "invoice-description", text: inv.description }),
      price);
  }

  function payButton(c, entry, label) {
    const inv = entry.message.invoice;
    if (entry.paid) {
      return h("button", { class: "key paid", type: "button", disabled: true, text: t("paid") });
    }
    const button = h("button", {
      class: "key pay",
      type: "button",
      "data-testid": "pay",
      text: label || t("pay", { amount: inv.total_amount }),
    });
    button.addEventListener("click", () => pay(c, entry, button));
    return button;
  }

  function keyboardNode(c, entry) {
    const m = entry.message;
    const rows = (m.reply_markup && m.reply_markup.inline_keyboard) || [];
    if (m.invoice && !rows.some((row) => row.some((b) => b.pay))) {
      return h("div", { class: "keyboard" }, h("div", { class: "key-row" }, payButton(c, entry)));
    }
    if (!rows.length) return null;
    return h("div", { class: "keyboard", "data-testid": "keyboard" },
      ...rows.map((row) => h("div", { class: "key-row" },
        ...row.map((button) => keyNode(c, entry, button)))));
  }

  function keyNode(c, entry, button) {
    if (button.pay) return payButton(c, entry, button.text);
    const key = h("button", { class: "key", type: "button", text: button.text });
    if (typeof button.callback_data === "string") {
      key.addEventListener("click", () => press(c, entry, button.callback_data, key));
    } else if (typeof button.url === "string") {
      key.classList.add("url");
      key.append(svg(LINK_ICON));
      key.addEventListener("click", () => openLink(button.url));
    } else if (button.web_app) {
      key.disabled = true;
      key.title = t("web_app_hint");
    } else if (typeof (button.copy_text || {}).text === "string") {
      key.addEventListener("click", () => navigator.clipboard.writeText(button.copy_text.text));
    } else {
      key.disabled = true;
      key.title = t("button_unsupported");
    }
    return key;
  }

  function quoteNode(c, m) {
    const quoted = m.reply_to_message;
    if (!quoted) return null;
    const author = quoted.from && quoted.from.id === model.bot.id
      ? model.bot.name
      : (quoted.sender_chat && quoted.sender_chat.title) || (quoted.from && quoted.from.first_name)
        || "";
    const quote = h("button", { class: "quote", type: "button" },
      h("strong", { text: author }),
      h("span", { text: snippet(quoted) || " " }));
    quote.addEventListener("click", () => {
      const target = $(`m-${c.id}-${quoted.message_id}`);
      if (!target) return;
      target.scrollIntoView({ block: "center", behavior: "smooth" });
      target.classList.add("flash");
      setTimeout(() => target.classList.remove("flash"), 1200);
    });
    return quote;
  }

  function serviceNode(c, entry) {
    const m = entry.message;
    const author = authorOf(entry);
    const line = m.successful_payment
      ? t("payment_done", {
        name: author.name, amount: m.successful_payment.total_amount, bot: model.bot.name,
      })
      : t("payment_refunded", { amount: m.refunded_payment.total_amount, bot: model.bot.name });
    return h("div", {
      class: "row service",
      id: `m-${c.id}-${entry.message_id}`,
      "data-message-id": entry.message_id,
    }, h("span", { class: "service-text", text: line }));
  }

  function messageNode(c, entry, previous) {
    const m = entry.message;
    if (m.successful_payment || m.refunded_payment) return serviceNode(c, entry);
    const mine = isMine(c, entry);
    const author = authorOf(entry);
    const media = mediaNode(m);
    const words = m.text !== undefined ? m.text : m.caption;
    const entities = m.text !== undefined ? m.entities : m.caption_entities;
    const showName = !mine && c.kind === "group";
    const sameAlbum = previous && m.media_group_id &&
      previous.message.media_group_id === m.media_group_id;
    const bubble = h("div", {
      class: [
        "bubble",
        media && !m.document ? "has-media" : "",
        m.invoice ? "has-invoice" : "",
        words ? "" : "no-text",
      ].join(" "),
    },
      showName ? h("div", { class: `sender ${colourOf(author.id)}`, text: author.name }) : null,
      quoteNode(c, m),
      media,
      m.invoice ? invoiceNode(c, entry) : null,
      words ? h("div", { class: "text", "data-testid": "text" }, richText(words, entities)) : null,
      !words && !media && !m.invoice
        ? h("div", { class: "text unsupported", text: t("unsupported") }) : null,
      h("div", { class: "meta" },
        // Telegram's apps do not mark the bot's edits (its status messages change all along).
        m.edit_date && !entry.bot ? h("span", { class: "edited", text: t("edited") }) : null,
        h("time", { datetime: new Date(m.date * 1000).toISOString(), text: clock(m.date) })));
    const reply = h("button", {
      class: "reply-button",
      type: "button",
      title: t("reply"),
      "aria-label": t("reply"),
      "data-testid": "reply",
    }, svg(REPLY_ICON));
    reply.addEventListener("click", () => startReply(c, entry, false));
    const side = mine ? "out" : "in";
    const row = h("div", {
      class: `row ${side} ${sameAlbum ? "album-next" : ""}`,
      id: `m-${c.id}-${entry.message_id}`,
      "data-message-id": entry.message_id,
      "data-testid": entry.bot ? "bot-message" : "user-message",
    },
      showName ? avatar(author.name, author.id, "small") : null,
      h("div", { class: "stack" }, h("div", { class: "bubble-line" }, bubble, reply),
        keyboardNode(c, entry)));
    return row;
  }

  // An edit keeps a video that is playing (same file): only what is around it changes.
  function keepVideo(oldNode, newNode) {
    const before = oldNode && oldNode.querySelector("video[data-file]");
    const after = newNode.querySelector("video[data-file]");
    if (before && after && before.dataset.file === after.dataset.file) after.replaceWith(before);
  }

  // --- the open chat ------------------------------------------------------------------------

  function sortedEntries(c) {
    return [...c.messages.values()].sort((a, b) => a.message_id - b.message_id);
  }

  function renderMessages() {
    const c = chat();
    list.replaceChildren();
    if (!c) return;
    const entries = sortedEntries(c);
    if (!entries.length) {
      list.append(h("div", { class: "empty", text: t("empty_chat") }));
      return;
    }
    let previous = null;
    for (const entry of entries) {
      appendEntry(c, entry, previous);
      previous = entry;
    }
    list.scrollTop = list.scrollHeight;
    pinned = true;
  }

  function appendEntry(c, entry, previous) {
    if (!previous || dayLabel(previous.message.date) !== dayLabel(entry.message.date)) {
      list.append(h("div", { class: "day" }, h("span", { text: dayLabel(entry.message.date) })));
    }
    list.append(messageNode(c, entry, previous));
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM;
  }

  function subtitleOf(c) {
    if (c.kind === "private") return t("subtitle_private");
    // The group's members: Ann, Bob and the bot.
    return c.kind === "group" ? t("subtitle_group", { count: 3 }) : t("subtitle_channel");
  }

  function renderHeader() {
    const c = chat();
    if (!c) return;
    $("chat-title").textContent = c.title;
    $("chat-subtitle").textContent = subtitleOf(c);
    const head = avatar(c.title, c.kind === "private" ? model.bot.id : c.id);
    head.id = "chat-avatar";
    $("chat-avatar").replaceWith(head);
  }

  function openChat(id) {
    if (!model.chats.has(id)) return;
    if (model.current !== id) clearComposer();
    model.current = id;
    showChat();
  }

  // The open chat drawn anew (a reconnect's state too): what the composer holds stays.
  function showChat() {
    const c = chat();
    c.unread = 0;
    renderChatList();
    renderHeader();
    renderMessages();
    renderComposer();
    applyForceReply();
  }

  // --- the chat list ------------------------------------------------------------------------

  function renderChatList() {
    const nav = $("chat-list");
    nav.replaceChildren(...model.order.map((id) => {
      const c = model.chats.get(id);
      const entries = sortedEntries(c);
      const last = entries[entries.length - 1];
      let preview = last ? snippet(last.message) : subtitleOf(c);
      if (last && c.kind === "group") preview = `${authorOf(last).name}: ${preview}`;
      const item = h("button", {
        class: `chat-item ${id === model.current ? "active" : ""}`,
        type: "button",
        "data-chat": id,
        "data-testid": `chat-${c.kind}`,
        "aria-current": id === model.current ? "true" : null,
      },
        avatar(c.title, c.kind === "private" ? model.bot.id : c.id),
        h("span", { class: "chat-item-text" },
          h("span", { class: "chat-item-top" },
            h("strong", { text: c.title }),
            last ? h("time", { text: clock(last.message.date) }) : null),
          h("span", { class: "chat-item-bottom" },
            h("span", { class: "preview", text: preview.split("\n")[0] }),
            c.unread ? h("span", { class: "badge", text: String(c.unread) }) : null)));
      item.addEventListener("click", () => openChat(id));
      return item;
    }));
  }

  // --- the composer -------------------------------------------------------------------------

  function renderComposer() {
    const c = chat();
    const select = $("send-as");
    select.replaceChildren(...c.senders.map((key) => {
      const who = model.identities[key] || {};
      const label = key === "group" && c.kind === "group"
        ? t("as_group", { title: who.name })
        : key === "channel" && c.kind === "group" ? t("as_channel", { title: who.name }) : who.name;
      return h("option", { value: key, text: label, selected: key === senderKey(c) });
    }));
    select.hidden = c.senders.length < 2;
    $("attach").disabled = c.kind === "group" && !["ann", "bob"].includes(senderKey(c));
    setPlaceholder();
  }

  function setPlaceholder() {
    const c = chat();
    if (!c) return;
    let placeholder = c.kind === "channel" ? t("post_placeholder") : t("message_placeholder");
    if (model.photos.length) placeholder = t("caption_placeholder");
    if (model.reply && model.reply.placeholder) placeholder = model.reply.placeholder;
    text.placeholder = placeholder;
  }

  function startReply(c, entry, forced, placeholder) {
    model.reply = { message_id: entry.message_id, forced, placeholder: placeholder || "" };
    $("reply-name").textContent = t("replying_to", { name: authorOf(entry).name });
    $("reply-snippet").textContent = snippet(entry.message).split("\n")[0];
    $("reply-bar").hidden = false;
    setPlaceholder();
    text.focus();
  }

  function cancelReply() {
    const c = chat();
    if (model.reply && model.reply.forced && c) {
      model.dismissed.add(`${c.id}:${model.reply.message_id}`);
    }
    model.reply = null;
    $("reply-bar").hidden = true;
    setPlaceholder();
  }

  // The bot's ForceReply prompt puts the composer in reply mode, as Telegram's apps do (for the
  // people a selective one asks).
  function applyForceReply() {
    const c = chat();
    if (!c) return;
    const force = c.force_reply;
    const me = model.identities[personKey(c)] || {};
    const forMe = force && (!force.user_ids.length || force.user_ids.includes(me.id));
    const key = force ? `${c.id}:${force.message_id}` : "";
    if (forMe && !model.dismissed.has(key) && c.messages.has(force.message_id)) {
      startReply(c, c.messages.get(force.message_id), true, force.placeholder);
    } else if (model.reply && model.reply.forced) {
      model.reply = null;
      $("reply-bar").hidden = true;
      setPlaceholder();
    }
  }

  function clearComposer() {
    text.value = "";
    fitText();
    for (const photo of model.photos) URL.revokeObjectURL(photo.url);
    model.photos = [];
    renderPhotos();
    model.reply = null;
    $("reply-bar").hidden = true;
    hideCommands();
  }

  function fitText() {
    text.rows = Math.min(8, Math.max(1, text.value.split("\n").length));
  }

  // One message from `sender` in chat `chatId`: text, photos (an album of two), a reply.
  function post(chatId, sender, words, replyTo, photos) {
    const body = new FormData();
    body.append("chat_id", String(chatId));
    body.append("sender", sender);
    body.append("text", words);
    if (replyTo) body.append("reply_to", String(replyTo));
    for (const photo of photos || []) body.append("photo", photo.blob, "photo.jpg");
    return api("/api/send", body);
  }

  async function sendComposer() {
    const c = chat();
    const words = text.value;
    if (!c || (!words.trim() && !model.photos.length)) return;
    const reply = model.reply;
    const sent = await post(c.id, senderKey(c), words, reply && reply.message_id, model.photos);
    if (!sent) return;
    if (reply && reply.forced) model.dismissed.add(`${c.id}:${reply.message_id}`);
    clearComposer();
    setPlaceholder();
  }

  // A command clicked in a message is sent as if typed: in a group addressed to the bot, as
  // Telegram's apps do. The composer keeps what it holds.
  function sendCommand(command) {
    const c = chat();
    let words = command;
    if (c.kind === "group" && !command.includes("@")) {
      const [first, ...rest] = command.split(" ");
      words = [`${first}@${model.bot.username}`, ...rest].join(" ");
    }
    post(c.id, senderKey(c), words);
  }

  // --- photos -------------------------------------------------------------------------------

  // Telegram's apps send a photo as a JPEG of at most 1280 px a side; so does the page.
  async function toJpeg(file) {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no JPEG"))),
        "image/jpeg", 0.9);
    });
  }

  async function addPhotos(files) {
    const room = model.limits.photos - model.photos.length;
    if (files.length > room) toast(t("too_many_photos"));
    for (const file of [...files].slice(0, Math.max(0, room))) {
      try {
        const blob = await toJpeg(file);
        model.photos.push({ blob, url: URL.createObjectURL(blob) });
      } catch {
        toast(t("photo_unreadable"));
      }
    }
    renderPhotos();
    setPlaceholder();
    text.focus();
  }

  function renderPhotos() {
    const bar = $("photo-bar");
    bar.replaceChildren(...model.photos.map((photo, index) => {
      const remove = h("button", {
        class: "photo-remove", type: "button", title: t("remove_photo"), "aria-label": t("remove_photo"),
      }, "×");
      remove.addEventListener("click", () => {
        URL.revokeObjectURL(photo.url);
        model.photos.splice(index, 1);
        renderPhotos();
        setPlaceholder();
      });
      return h("div", { class: "photo-chip" }, h("img", { src: photo.url, alt: t("photo") }), remove);
    }));
    bar.hidden = !model.photos.length;
  }

  // --- commands -----------------------------------------------------------------------------

  function matchingCommands() {
    const match = /^\/([a-z0-9_]*)$/i.exec(text.value);
    if (!match || !model.commands.length) return [];
    return model.commands.filter((c) => c.command.startsWith(match[1].toLowerCase())).slice(0, 8);
  }

  function renderCommands() {
    const box = $("command-list");
    const found = matchingCommands();
    if (!found.length) return hideCommands();
    model.commandIndex = Math.min(model.commandIndex, found.length - 1);
    box.replaceChildren(...found.map((c, i) => {
      const item = h("button", {
        class: `command-item ${i === model.commandIndex ? "active" : ""}`,
        type: "button",
        role: "option",
        "aria-selected": i === model.commandIndex ? "true" : "false",
      }, h("strong", { text: `/${c.command}` }), h("span", { text: c.description }));
      item.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the text field
        chooseCommand(c.command);
      });
      return item;
    }));
    box.hidden = false;
  }

  function hideCommands() {
    $("command-list").hidden = true;
    model.commandIndex = 0;
  }

  function chooseCommand(command) {
    const c = chat();
    const suffix = c && c.kind === "group" ? `@${model.bot.username}` : "";
    text.value = `/${command}${suffix} `;
    hideCommands();
    text.focus();
  }

  // --- actions ------------------------------------------------------------------------------

  async function press(c, entry, data, button) {
    button.classList.add("busy");
    const done = await api("/api/press", {
      chat_id: c.id, message_id: entry.message_id, data, sender: senderKey(c),
    });
    if (!done) {
      button.classList.remove("busy");
      return;
    }
    model.pressed.set(done.query_id, button);
    setTimeout(() => button.classList.remove("busy"), 3000);
  }

  async function pay(c, entry, button) {
    button.disabled = true;
    button.textContent = t("paying");
    const done = await api("/api/pay", {
      chat_id: c.id, message_id: entry.message_id, sender: senderKey(c),
    });
    if (done && !done.paid && done.error) alertBox(done.error);
    if (!done || !done.paid) {
      button.disabled = false;
      button.textContent = t("pay", { amount: entry.message.invoice.total_amount });
    }
  }

  // A t.me link to this bot with ?start= is what Telegram's apps turn into "/start <param>" in
  // the private chat with the bot; any other web link opens in a new tab.
  function deepLink(url) {
    let parsed;
    try {
      parsed = new URL(url, "https://t.me/");
    } catch {
      return null;
    }
    const path = parsed.pathname.replace(/^\/+|\/+$/g, "");
    if (!DEEP_LINK_HOSTS.has(parsed.hostname.toLowerCase())) return null;
    if (path.toLowerCase() !== model.bot.username.toLowerCase()) return null;
    const param = parsed.searchParams.get("start");
    return param ? `/start ${param}` : "/start";
  }

  // A deep link goes to the private chat of the person behind the sender (Bob's is listed once
  // it has a message: it opens when it appears).
  async function openLink(url) {
    const command = deepLink(url);
    if (command === null) {
      const href = safeUrl(url);
      if (href) window.open(href, "_blank", "noopener,noreferrer");
      else toast(t("button_unsupported"));
      return;
    }
    const key = personKey(chat());
    const target = model.identities[key].id;
    const sent = await post(target, key, command);
    if (!sent) return;
    if (model.chats.has(target)) openChat(target);
    else model.opening = target;
  }

  // --- the live state -----------------------------------------------------------------------

  function fillTexts() {
    for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
    for (const el of document.querySelectorAll("[data-title]")) {
      el.title = t(el.dataset.title);
      el.setAttribute("aria-label", t(el.dataset.title));
    }
    document.title = t("title");
  }

  function chatFrom(view, old) {
    const messages = new Map((view.messages || []).map((e) => [e.message_id, e]));
    return {
      id: view.id,
      kind: view.kind,
      title: view.title,
      senders: view.senders,
      messages: view.messages ? messages : old ? old.messages : new Map(),
      force_reply: view.force_reply !== undefined ? view.force_reply : old ? old.force_reply : null,
      unread: old ? old.unread : 0,
    };
  }

  function loadState(state) {
    model.texts = state.texts || {};
    model.bot = state.bot;
    model.identities = state.identities;
    model.limits = state.limits || model.limits;
    model.commands = state.commands || [];
    const old = model.chats;
    model.chats = new Map(state.chats.map((v) => [v.id, chatFrom(v, old.get(v.id))]));
    model.order = state.chats.map((v) => v.id);
    fillTexts();
    renderPanel(state.emulator);
    if (!model.chats.has(model.current)) openChat(model.order[0]);
    else showChat();
    app.removeAttribute("aria-busy");
  }

  function onMessage(data, edited) {
    const c = model.chats.get(data.chat_id);
    if (!c) return;
    const entry = data.entry;
    const had = c.messages.has(entry.message_id);
    c.messages.set(entry.message_id, entry);
    if (c.id === model.current) {
      const old = $(`m-${c.id}-${entry.message_id}`);
      if (had && old) {
        const node = messageNode(c, entry, c.messages.get(entry.message_id - 1));
        keepVideo(old, node);
        old.replaceWith(node);
      } else {
        const follow = pinned || isMine(c, entry);
        const entries = sortedEntries(c);
        if (entries.length === 1) list.replaceChildren();
        appendEntry(c, entry, entries[entries.length - 2] || null);
        if (follow) list.scrollTop = list.scrollHeight;
      }
    } else if (!edited && !isMine(c, entry)) {
      c.unread = (c.unread || 0) + 1;
    }
    renderChatList();
  }

  function onDelete(data) {
    const c = model.chats.get(data.chat_id);
    if (!c) return;
    c.messages.delete(data.message_id);
    const node = $(`m-${c.id}-${data.message_id}`);
    if (node) node.remove();
    renderChatList();
  }

  function onForceReply(data) {
    const c = model.chats.get(data.chat_id);
    if (!c) return;
    c.force_reply = data.force_reply;
    if (c.id === model.current) applyForceReply();
  }

  function onAnswer(data) {
    const button = model.pressed.get(data.query_id);
    if (button) button.classList.remove("busy");
    model.pressed.delete(data.query_id);
    if (!data.text) return;
    if (data.show_alert) alertBox(data.text);
    else toast(data.text);
  }

  function onChats(views) {
    const old = model.chats;
    model.chats = new Map(views.map((v) => [v.id, chatFrom(v, old.get(v.id))]));
    model.order = views.map((v) => v.id);
    renderChatList();
    if (model.chats.has(model.opening)) {
      openChat(model.opening);
      model.opening = null;
    }
  }

  function connect() {
    const source = new EventSource("/api/events");
    const on = (name, handler) =>
      source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
    on("state", loadState);
    on("message", (data) => onMessage(data, false));
    on("edit", (data) => onMessage(data, true));
    on("delete", onDelete);
    on("force_reply", onForceReply);
    on("answer", onAnswer);
    on("chats", onChats);
    on("commands", (commands) => {
      model.commands = commands;
    });
    on("emulator", renderPanel);
    source.addEventListener("open", () => {
      $("connection").hidden = true;
    });
    source.addEventListener("error", () => {
      $("connection").hidden = false;
    });
  }

  // --- the emulator panel -------------------------------------------------------------------

  function renderPanel(panel) {
    if (!panel || !panel.fault_statuses) return;
    const timing = $("timing");
    timing.min = String(panel.min_seconds);
    timing.max = String(Math.min(panel.max_seconds, 60));
    if (document.activeElement !== timing) timing.value = String(panel.generation_seconds);
    $("timing-value").textContent = t("seconds", { seconds: Number(timing.value).toFixed(1) });
    const count = $("fail-count");
    if (!count.options.length) {
      for (let n = 1; n <= 5; n += 1) {
        const label = n === 1 ? t("fail_one") : t("fail_count", { count: n });
        count.append(h("option", { value: n, text: label }));
      }
      for (const status of panel.fault_statuses) {
        $("fail-status").append(h("option", { value: status, text: `HTTP ${status}` }));
      }
    }
    const armed = [
      ...panel.scripts.map((s) => (s.stuck ? t("armed_stuck")
        : s.failure_reason ? t("armed_moderation") : t("armed_slow"))),
      ...panel.faults.map((f) => t("armed_fault", { count: f.count, status: f.status })),
    ];
    $("armed").replaceChildren(...(armed.length
      ? armed.map((line) => h("li", { class: "armed-item", text: line }))
      : [h("li", { class: "nothing", text: t("nothing_armed") })]));
    $("disarm").hidden = !armed.length;
    $("generations").replaceChildren(...(panel.generations.length
      ? panel.generations.map((g) => h("li", { class: "generation" },
        h("span", { class: `state ${g.state}`, text: g.stuck && g.state === "queued" ? "stuck" : g.state }),
        h("span", { class: "prompt", text: g.prompt, title: g.failure_reason || g.id })))
      : [h("li", { class: "nothing", text: t("no_generations") })]));
    $("requests").replaceChildren(...(panel.requests.length
      ? [...panel.requests].reverse().map((r) => h("li", { class: `request ${statusClass(r.status)}` },
        h("span", { class: "method", text: r.method }),
        h("span", { class: "path", text: shortPath(r.path), title: r.path }),
        h("span", { class: "status", text: r.status === null ? t("pending") : String(r.status) })))
      : [h("li", { class: "nothing", text: t("no_requests") })]));
  }

  // The end of a path says what it is: "luma-ai/generation", "files/<id>.mp4".
  function shortPath(path) {
    return path.split("/").filter(Boolean).slice(-2).join("/") || "/";
  }

  function statusClass(status) {
    if (status === null) return "held";
    if (status >= 500) return "server-error";
    if (status >= 400) return "client-error";
    return "ok";
  }

  function togglePanel(show) {
    if (PANEL_QUERY.matches) app.classList.toggle("panel-open", show);
    else app.classList.toggle("panel-hidden", !show);
  }

  function panelShown() {
    return PANEL_QUERY.matches
      ? app.classList.contains("panel-open")
      : !app.classList.contains("panel-hidden");
  }

  // --- wiring -------------------------------------------------------------------------------

  function wire() {
    $("composer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendComposer();
    });
    text.addEventListener("keydown", (event) => {
      const commands = $("command-list").hidden ? [] : matchingCommands();
      if (commands.length && ["ArrowDown", "ArrowUp"].includes(event.key)) {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        model.commandIndex = (model.commandIndex + step + commands.length) % commands.length;
        renderCommands();
        return;
      }
      const exact = commands.some((c) => text.value === `/${c.command}`);
      if (commands.length && (event.key === "Tab" || (event.key === "Enter" && !exact))) {
        event.preventDefault();
        chooseCommand(commands[model.commandIndex].command);
        return;
      }
      if (event.key === "Escape") {
        if (!$("command-list").hidden) hideCommands();
        else if (model.reply) cancelReply();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendComposer();
      }
    });
    text.addEventListener("input", () => {
      fitText();
      renderCommands();
    });
    // Closed a moment after the field loses the focus (a click on the list comes first), unless
    // the focus is back by then.
    text.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== text) hideCommands();
    }, 150));
    $("reply-cancel").addEventListener("click", cancelReply);
    $("attach").addEventListener("click", () => $("file-input").click());
    $("file-input").addEventListener("change", (event) => {
      addPhotos(event.target.files);
      event.target.value = "";
    });
    $("send-as").addEventListener("change", (event) => {
      const c = chat();
      model.senders.set(c.id, event.target.value);
      renderComposer();
      renderMessages();
      applyForceReply();
    });
    list.addEventListener("scroll", () => {
      pinned = nearBottom();
    });
    const keepPinned = () => {
      if (pinned) list.scrollTop = list.scrollHeight;
    };
    list.addEventListener("load", keepPinned, true); // pictures (load does not bubble)
    list.addEventListener("loadedmetadata", keepPinned, true); // videos
    list.addEventListener("click", (event) => {
      const spoiler = event.target.closest(".spoiler");
      if (spoiler) spoiler.classList.add("revealed");
      const command = event.target.closest("[data-command]");
      if (command) sendCommand(command.dataset.command);
      const link = event.target.closest("a[data-link]");
      if (link && deepLink(link.dataset.link) !== null) {
        event.preventDefault();
        openLink(link.dataset.link);
      }
    });
    $("alert-ok").addEventListener("click", () => $("alert").close());
    $("panel-toggle").addEventListener("click", () => togglePanel(!panelShown()));
    $("panel-close").addEventListener("click", () => togglePanel(false));
    const timing = $("timing");
    timing.addEventListener("input", () => {
      $("timing-value").textContent = t("seconds", { seconds: Number(timing.value).toFixed(1) });
    });
    timing.addEventListener("change", () => {
      api("/api/emulator/timing", { seconds: Number(timing.value) }).then(renderPanel);
    });
    $("arm-moderation").addEventListener("click", () =>
      api("/api/emulator/arm", { outcome: "moderation" }).then(renderPanel));
    $("arm-stuck").addEventListener("click", () =>
      api("/api/emulator/arm", { outcome: "stuck" }).then(renderPanel));
    $("fail").addEventListener("click", () => api("/api/emulator/fail", {
      status: Number($("fail-status").value), count: Number($("fail-count").value),
    }).then(renderPanel));
    $("disarm").addEventListener("click", () => api("/api/emulator/disarm").then(renderPanel));
  }

  wire();
  connect();
})();
