// The gallery Mini App: the user's videos, with Send to chat, Extend and Again.
// No framework and no telegram-web-app.js (CSP: script-src 'self'): a few lines of bridge
// below talk to Telegram directly. Every string shown comes from the API's `texts`; every
// piece of API data reaches the page through textContent or an attribute, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const root = document.documentElement;
  const main = $("app");
  const grid = $("grid");
  const more = $("more");
  const end = $("end"); // always laid out, unlike the button, so it can be observed
  const toastBox = $("toast");
  const errorText = $("error-text");
  // The server does not template index.html: its one sentence is the fallback.
  const FALLBACK = errorText.textContent.trim();
  const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
  const THEME_KEY = /^[a-z][a-z_]{0,40}$/;
  const TOAST_MS = 4000;

  let texts = {};
  let initData = "";
  let dead = false; // after a full-page error nothing else is loaded or sent
  let themeProps = [];
  let toastTimer = 0;
  let observer = null;
  // The list being shown; `epoch` changes with the filter, so a late page of the old list
  // is dropped instead of appended.
  const list = { chat: null, next: 0, busy: false, epoch: 0, ids: new Set() };

  // A missing translation shows its key: visible, and never a crash.
  const t = (key) => (typeof texts[key] === "string" && texts[key] ? texts[key] : key);

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") el.textContent = value;
      else if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    el.append(...children.filter((c) => c !== null && c !== undefined)); // strings: text nodes
    return el;
  }

  // --- Telegram bridge ------------------------------------------------------------------

  function post(type, data) {
    try {
      const proxy = window.TelegramWebviewProxy;
      if (proxy && typeof proxy.postEvent === "function") {
        proxy.postEvent(type, JSON.stringify(data || {}));
      } else if (window.parent !== window) {
        const message = JSON.stringify({ eventType: type, eventData: data || {} });
        window.parent.postMessage(message, "*");
      }
    } catch {
      // A plain browser, or a client without this event: nothing to tell.
    }
  }

  function received(type, data) {
    if (type === "theme_changed" && data && typeof data === "object") {
      applyTheme(data.theme_params);
    }
  }

  function listen() {
    try {
      const telegram = (window.Telegram = window.Telegram || {});
      const webView = (telegram.WebView = telegram.WebView || {});
      const earlier = webView.receiveEvent;
      webView.receiveEvent = (type, data) => {
        received(type, data);
        if (typeof earlier === "function") earlier(type, data);
      };
    } catch {
      // Not ours to change: the web client's messages below still arrive.
    }
    window.addEventListener("message", (event) => {
      if (window.parent === window || event.source !== window.parent) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message.eventType === "string") {
        received(message.eventType, message.eventData);
      }
    });
  }

  function launchParams() {
    // Telegram puts them in the fragment, URL-encoded once; tgWebAppData is itself a query
    // string that the server checks as sent.
    const params = new URLSearchParams(location.hash.slice(1));
    const webApp = (window.Telegram && window.Telegram.WebApp) || {};
    let theme = null;
    try {
      theme = JSON.parse(params.get("tgWebAppThemeParams") || "null");
    } catch {
      theme = null;
    }
    return {
      initData:
        params.get("tgWebAppData") || (typeof webApp.initData === "string" ? webApp.initData : ""),
      theme: theme || webApp.themeParams || null,
    };
  }

  // --- Theme ----------------------------------------------------------------------------

  function isDark(hex) {
    let digits = hex.slice(1);
    if (digits.length === 3) digits = [...digits].map((d) => d + d).join("");
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16));
    // Telegram's own rule for its clients' colours.
    return Math.sqrt(0.299 * r * r + 0.587 * g * g + 0.114 * b * b) < 120;
  }

  function prefersDark() {
    return Boolean(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  }

  function applyTheme(params) {
    if (!params || typeof params !== "object" || Array.isArray(params)) return;
    for (const name of themeProps) root.style.removeProperty(name);
    themeProps = [];
    // Only colours in #rrggbb or #rgb: anything else is someone else's input, not a colour.
    for (const [key, value] of Object.entries(params)) {
      if (!THEME_KEY.test(key) || typeof value !== "string" || !HEX.test(value)) continue;
      const name = `--tg-theme-${key.replace(/_/g, "-")}`;
      root.style.setProperty(name, value);
      themeProps.push(name);
    }
    const bg = typeof params.bg_color === "string" && HEX.test(params.bg_color);
    const dark = bg ? isDark(params.bg_color) : prefersDark();
    const scheme = dark ? "dark" : "light";
    root.dataset.theme = scheme; // gallery.css keeps one palette per scheme
    root.style.setProperty("color-scheme", scheme);
  }

  // --- API ------------------------------------------------------------------------------

  // Resolves to {ok, status, data}; throws only when the network fails.
  async function call(path, body) {
    const init = { headers: { Authorization: `tma ${initData}` }, cache: "no-store" };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const plain = data && typeof data === "object" && !Array.isArray(data);
    return { ok: response.ok, status: response.status, data: plain ? data : {} };
  }

  const messageOf = (data) =>
    typeof data.message === "string" && data.message ? data.message : "";

  function randomId() {
    // getRandomValues works outside secure contexts too, unlike randomUUID.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // --- Screens --------------------------------------------------------------------------

  function fail(message) {
    dead = true;
    if (observer) observer.disconnect();
    errorText.textContent = message || FALLBACK;
    main.hidden = true;
    toastBox.classList.remove("show");
    $("error").hidden = false;
    main.removeAttribute("aria-busy");
  }

  function toast(text, kind) {
    if (!text || dead) return;
    toastBox.textContent = text;
    toastBox.dataset.kind = kind;
    toastBox.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toastBox.classList.remove("show"), TOAST_MS);
    post("web_app_trigger_haptic_feedback", {
      type: "notification",
      notification_type: kind === "error" ? "error" : "success",
    });
  }

  function skeleton() {
    for (let i = 0; i < 4; i++) {
      grid.append(h("div", { class: "tile ghost", "aria-hidden": "true" }));
    }
  }

  function renderFilter(chats) {
    const filter = $("filter");
    const chips = [];
    const chip = (label, chat) => {
      const button = h("button", {
        type: "button",
        class: "chip",
        "aria-pressed": String(chat === list.chat),
        "data-chat": chat === null ? "" : chat,
        text: label,
        onclick: () => {
          if (list.chat === chat) return;
          for (const other of chips) other.setAttribute("aria-pressed", String(other === button));
          restart(chat);
        },
      });
      chips.push(button);
      return button;
    };
    filter.append(chip(t("gallery_all_chats"), null));
    for (const c of chats) {
      if (c && Number.isInteger(c.id)) filter.append(chip(String(c.title || c.id), c.id));
    }
    filter.setAttribute("aria-label", t("gallery_all_chats"));
    filter.hidden = false;
  }

  // --- Tiles ----------------------------------------------------------------------------

  // Only web addresses may become a src (no javascript:, data: or blob:).
  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      const url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function clock(seconds) {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return null;
    const whole = Math.round(seconds);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  }

  function pauseOthers(event) {
    for (const video of grid.querySelectorAll("video.player")) {
      if (video !== event.target) video.pause();
    }
  }

  function media(video, prompt) {
    const box = h("div", { class: "media" });
    const src = safeUrl(video.video);
    const thumb = safeUrl(video.thumbnail);
    const placeholder = () => h("div", { class: "placeholder", "aria-hidden": "true" });
    let cover;
    if (thumb) {
      cover = h("img", { src: thumb, alt: prompt, loading: "lazy", decoding: "async" });
      cover.addEventListener("error", () => cover.replaceWith(placeholder()), { once: true });
    } else if (src) {
      // A frame of the video itself; #t nudges mobile Safari into drawing one.
      const frame = src.includes("#") ? src : `${src}#t=0.1`;
      cover = h("video", { src: frame, preload: "metadata", muted: true, playsinline: true });
      cover.muted = true;
      cover.setAttribute("aria-hidden", "true");
    } else {
      cover = placeholder();
    }
    const length = clock(video.duration);
    const badge = length ? h("span", { class: "badge", "aria-hidden": "true", text: length }) : null;
    if (!src) {
      box.append(cover, badge || "");
      return box;
    }
    const play = h(
      "button",
      {
        type: "button",
        class: "play",
        "aria-label": t("gallery_play"),
        "aria-describedby": `prompt-${video.id}`,
      },
      cover,
      h("span", { class: "play-icon", "aria-hidden": "true" }),
      badge,
    );
    play.addEventListener("click", () => {
      const player = h("video", {
        class: "player",
        src,
        controls: true,
        playsinline: true,
        autoplay: true,
        "aria-label": prompt,
      });
      player.addEventListener("play", pauseOthers);
      play.replaceWith(player);
      player.play().catch(() => {}); // the controls are there if autoplay is refused
      player.focus();
    });
    box.append(play);
    return box;
  }

  function button(testid, label, kind, type) {
    return h("button", {
      type: type || "button",
      class: `button ${kind}`,
      "data-testid": testid,
      text: label,
    });
  }

  // One user action: one request id, kept for a retry after a network failure, so the
  // server can tell a retry from a second press and never charges twice.
  async function act(target, id, action, extra, done) {
    if (target.disabled || dead) return;
    const request = randomId();
    target.disabled = true;
    target.setAttribute("aria-busy", "true");
    try {
      let answer = null;
      for (let attempt = 0; attempt < 2 && !answer; attempt++) {
        if (attempt) await sleep(1000);
        try {
          answer = await call(`api/videos/${encodeURIComponent(id)}/${action}`, {
            request,
            ...extra,
          });
        } catch {
          answer = null;
        }
      }
      if (!answer) {
        toast(t("gallery_failed"), "error");
      } else if (answer.status === 401) {
        fail(messageOf(answer.data));
      } else {
        const fallback = answer.ok ? "" : t("gallery_failed");
        toast(messageOf(answer.data) || fallback, answer.ok ? "ok" : "error");
        if (answer.ok && done) done();
      }
    } finally {
      target.disabled = false;
      target.removeAttribute("aria-busy");
    }
  }

  function extendForm(video, actions) {
    const area = h("textarea", {
      rows: 3,
      placeholder: t("gallery_extend_placeholder"),
      "aria-label": t("gallery_extend"),
    });
    const start = button("extend-start", t("gallery_extend_start"), "primary", "submit");
    const cancel = button("extend-cancel", t("gallery_cancel"), "plain");
    const row = h("div", { class: "row" }, start, cancel);
    const form = h("form", { class: "extend", hidden: true }, area, row);
    const close = () => {
      form.hidden = true;
      actions.hidden = false;
      area.value = "";
    };
    cancel.addEventListener("click", close);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const prompt = area.value.trim();
      if (!prompt) {
        area.focus();
        return;
      }
      act(start, video.id, "extend", { prompt }, close);
    });
    const open = () => {
      actions.hidden = true;
      form.hidden = false;
      area.focus();
    };
    return { form, open };
  }

  function tile(video) {
    const prompt = typeof video.prompt === "string" ? video.prompt : "";
    const text = h("p", { class: "prompt", id: `prompt-${video.id}`, text: prompt });
    const meta = [video.date, video.details].filter((part) => typeof part === "string" && part);
    const send = button("send", t("gallery_send"), "primary wide");
    const again = button("again", t("gallery_again"), "secondary");
    const actions = h("div", { class: "actions" }, send);
    send.addEventListener("click", () => act(send, video.id, "send", {}));
    again.addEventListener("click", () => act(again, video.id, "again", {}));
    let form = null;
    if (video.can_extend === true) {
      const extend = button("extend", t("gallery_extend"), "secondary");
      const built = extendForm(video, actions);
      form = built.form;
      extend.addEventListener("click", built.open);
      actions.append(extend);
    }
    actions.append(again);
    const id = typeof video.generation_id === "string" && video.generation_id;
    const body = h(
      "div",
      { class: "body" },
      text,
      meta.length ? h("p", { class: "meta", text: meta.join(" · ") }) : null,
      id
        ? h(
            "p",
            { class: "gen" },
            h("span", { class: "gen-label", text: t("gallery_generation_id") }),
            h("code", { text: id }),
          )
        : null,
      actions,
      form,
    );
    const article = h(
      "article",
      { class: "tile", "data-testid": "video-tile", "data-id": video.id },
      media(video, prompt),
      body,
    );
    return { article, text };
  }

  // The prompt is clamped to three lines; only one that overflows becomes a toggle.
  function clampable(text) {
    if (text.scrollHeight <= text.clientHeight + 1) return;
    text.classList.add("clamped");
    text.setAttribute("role", "button");
    text.setAttribute("tabindex", "0");
    text.setAttribute("aria-expanded", "false");
    const toggle = () => {
      const open = text.classList.toggle("open");
      text.setAttribute("aria-expanded", String(open));
    };
    text.addEventListener("click", () => {
      if (!String(getSelection() || "")) toggle(); // selecting text is not a tap
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        toggle();
      }
    });
  }

  // --- The list -------------------------------------------------------------------------

  function updateMore() {
    // Hidden under the first page's placeholders; shown for a retry after an error.
    more.hidden = dead || list.next === null || (list.busy && list.ids.size === 0);
    more.disabled = list.busy;
    const empty = list.next === null && list.ids.size === 0;
    $("empty").hidden = !empty;
  }

  function rearm() {
    // Observing again reports at once whether the end is still in view (a short page).
    if (!observer || dead) return;
    observer.unobserve(end);
    if (list.next !== null) observer.observe(end);
  }

  async function loadPage() {
    if (dead || list.busy || list.next === null) return;
    const epoch = list.epoch;
    list.busy = true;
    updateMore();
    let path = `api/videos?offset=${encodeURIComponent(list.next)}`;
    if (list.chat !== null) path += `&chat=${encodeURIComponent(list.chat)}`;
    let answer = null;
    try {
      answer = await call(path);
    } catch {
      answer = null;
    }
    if (epoch !== list.epoch || dead) return; // the filter changed meanwhile
    list.busy = false;
    main.removeAttribute("aria-busy");
    grid.querySelectorAll(".ghost").forEach((ghost) => ghost.remove());
    if (!answer || !answer.ok) {
      if (answer && answer.status === 401) return fail(messageOf(answer.data));
      toast((answer && messageOf(answer.data)) || t("gallery_failed"), "error");
      updateMore(); // the button stays for a retry; the observer does not loop on errors
      return;
    }
    const videos = Array.isArray(answer.data.videos) ? answer.data.videos : [];
    const added = [];
    for (const video of videos) {
      // Videos made meanwhile shift the offsets: one may come twice.
      if (!video || typeof video !== "object" || list.ids.has(video.id)) continue;
      list.ids.add(video.id);
      const built = tile(video);
      grid.append(built.article);
      added.push(built.text);
    }
    requestAnimationFrame(() => added.forEach(clampable));
    const next = answer.data.next_offset;
    list.next = Number.isInteger(next) && next > 0 && videos.length ? next : null;
    updateMore();
    rearm();
  }

  function restart(chat) {
    list.chat = chat;
    list.epoch += 1;
    list.next = 0;
    list.busy = false;
    list.ids.clear();
    grid.replaceChildren();
    skeleton();
    updateMore();
    loadPage();
  }

  async function start() {
    listen();
    const launch = launchParams();
    applyTheme(launch.theme || {}); // with no theme, still a scheme (prefers-color-scheme)
    post("web_app_ready");
    post("web_app_expand");
    post("web_app_set_header_color", { color_key: "secondary_bg_color" });
    initData = launch.initData;
    if (!initData) return fail();
    skeleton();
    let me;
    try {
      me = await call("api/me");
    } catch {
      return fail();
    }
    if (!me.ok) return fail(messageOf(me.data));
    texts = me.data.texts && typeof me.data.texts === "object" ? me.data.texts : {};
    document.title = t("gallery_title");
    $("title").textContent = t("gallery_title");
    $("empty").textContent = t("gallery_empty");
    more.textContent = t("gallery_load_more");
    more.addEventListener("click", loadPage);
    renderFilter(Array.isArray(me.data.chats) ? me.data.chats : []);
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) loadPage();
        },
        { rootMargin: "0px 0px 600px 0px" },
      );
    }
    loadPage();
  }

  start();
})();
