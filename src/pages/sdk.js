/*! scangate login widget. ScanGate.mount(element, options) -> { restart(), unmount() }
 * options: authPath ("/.auth"), method, methods (tabs, in order), rd, lang ("zh"|"en"; default
 * from the browser), demo, phonePolicy ("required"|"optional"|"off"), and callbacks
 * onStatus("loading"|"waiting"|"scanned"|"need_phone"|"confirmed"|"cancelled"|"expired"|"failed"),
 * onError({error, message}), onSuccess({redirect, user}) (default: go to redirect). */
(function (root) {
  "use strict";

  // The gateway replaces this marker with the widget's stylesheet (a JSON string).
  const CSS = "__SCANGATE_CSS__";
  const WAIT = 25; // long-poll seconds; the server answers earlier on any change
  const HIDDEN_PAUSE_MS = 60000; // stop polling after a minute in a hidden tab
  const RESEND_S = 60;
  const LIVE = ["waiting", "scanned", "need_phone"];

  const TEXT = {
    en: {
      tabs: { official_account: "WeChat Official Account", mini_program: "Mini Program" },
      tablist: "Sign-in method",
      loading: "Getting a code…",
      waiting: "Scan with WeChat",
      waitingSub: "Open WeChat on your phone, tap + and choose Scan.",
      scanned: "Confirm on your phone",
      scannedSub: "Scanned. Finish signing in inside WeChat.",
      need_phone: "Bind your phone number",
      needPhoneSub: "One last step: verify your mobile number.",
      confirmed: "Signed in — redirecting…",
      cancelled: "Cancelled — try again",
      expired: "Code expired — refresh",
      failed: "Something went wrong",
      again: "Try again",
      refresh: "Get a new code",
      expiresIn: "Code expires in {t}",
      offline: "Connection problem — retrying…",
      network: "Could not reach the server.",
      mobileHint: "On a phone? Open this page on a computer, or long-press the code in WeChat.",
      qrAlt: "WeChat sign-in QR code",
      phone: "Mobile number",
      sendCode: "Send code",
      resend: "Resend ({n} s)",
      code: "Verification code",
      codePh: "6 digits",
      bind: "Verify and sign in",
      skip: "Skip for now",
      codeSent: "Code sent.",
      demoCode: "Demo: your code is {c}",
      wait: "Too many requests, wait {n} s",
      badPhone: "Enter a valid mobile number.",
      badCode: "Enter the 6-digit code.",
      errors: {
        invalid_code: "That code is not right.",
        code_expired: "That code has expired — send a new one.",
        phone_taken: "This number is already bound to another WeChat account."
      },
      demoTitle: "Demo mode",
      demoNew: "Simulate scan: new user",
      demoReturning: "Simulate scan: returning user"
    },
    zh: {
      tabs: { official_account: "公众号", mini_program: "小程序" },
      tablist: "登录方式",
      loading: "正在获取二维码…",
      waiting: "请使用微信扫一扫",
      waitingSub: "打开手机微信，点击右上角 +，选择“扫一扫”。",
      scanned: "请在手机上确认",
      scannedSub: "已扫描，请在微信中完成登录。",
      need_phone: "绑定手机号",
      needPhoneSub: "最后一步：验证您的手机号。",
      confirmed: "登录成功，正在跳转…",
      cancelled: "已取消，请重试",
      expired: "二维码已过期，请刷新",
      failed: "出错了",
      again: "重试",
      refresh: "刷新二维码",
      expiresIn: "二维码将在 {t} 后过期",
      offline: "网络连接异常，正在重试…",
      network: "无法连接服务器。",
      mobileHint: "正在用手机？请在电脑上打开本页，或在微信中长按识别二维码。",
      qrAlt: "微信登录二维码",
      phone: "手机号",
      sendCode: "获取验证码",
      resend: "重新发送（{n} 秒）",
      code: "验证码",
      codePh: "6 位数字",
      bind: "验证并登录",
      skip: "暂时跳过",
      codeSent: "验证码已发送。",
      demoCode: "演示：验证码是 {c}",
      wait: "请求过于频繁，请等待 {n} 秒",
      badPhone: "请输入有效的手机号。",
      badCode: "请输入 6 位验证码。",
      errors: {
        invalid_code: "验证码不正确。",
        code_expired: "验证码已过期，请重新获取。",
        phone_taken: "该手机号已绑定其他微信账号。"
      },
      demoTitle: "演示模式",
      demoNew: "模拟扫码：新用户",
      demoReturning: "模拟扫码：老用户"
    }
  };

  const fmt = (s, v) => s.replace(/\{(\w+)\}/g, (_, k) => String(v[k]));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function pickLang(lang) {
    const l = String(lang || (root.navigator && navigator.language) || "en").toLowerCase();
    return l.startsWith("zh") ? "zh" : "en";
  }

  function h(tag, props, kids) {
    const e = document.createElement(tag);
    for (const k of Object.keys(props || {})) {
      const v = props[k];
      if (v === false || v == null) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids || []) if (c) e.appendChild(c);
    return e;
  }

  // Resolves to the answer (body parsed as JSON, or {}) or, on network failure or abort, null.
  async function call(method, url, body, signal) {
    const headers = { Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    try {
      const r = await fetch(url, { method, headers, body: body && JSON.stringify(body), credentials: "same-origin", signal });
      const data = await r.json().catch(() => null);
      return { ok: r.ok, status: r.status, data: data && typeof data === "object" ? data : {}, headers: r.headers };
    } catch (_) {
      return null;
    }
  }

  function retryAfter(r) {
    const n = parseInt((r && r.headers.get("Retry-After")) || "", 10);
    return n > 0 && n < 3600 ? n : 0;
  }

  function injectStyle() {
    if (!CSS || document.getElementById("scangate-css")) return;
    const s = h("style", { id: "scangate-css" });
    s.textContent = CSS;
    document.head.appendChild(s);
  }

  function mount(el, options) {
    const o = Object.assign({ authPath: "/.auth", rd: "/", demo: false, phonePolicy: "required" }, options);
    const lang = pickLang(o.lang);
    const t = TEXT[lang];
    const methods = Array.isArray(o.methods) && o.methods.length ? o.methods.slice() : [o.method || "official_account"];
    let method = methods.indexOf(o.method) >= 0 ? o.method : methods[0];
    const api = (p) => String(o.authPath).replace(/\/+$/, "") + p;
    const emit = (name, arg) => {
      // A throwing callback must not break the widget; rethrow outside our flow.
      try {
        if (typeof o[name] === "function") o[name](arg);
      } catch (e) {
        setTimeout(() => { throw e; });
      }
    };

    // gen names the current attempt and loop the current poll loop: bumping one makes every
    // async step started under the old value stand down, so two polls never run at once.
    let alive = true, gen = 0, loop = 0, ctl = null, pollCtl = null;
    let attempt = null, status = "loading", deadline = 0, finishing = false;
    let error = "", offline = false, paused = false, busy = false;
    let cooldown = 0, cooldownTimer = null, hiddenTimer = null;
    const stale = (g) => !alive || g !== gen;

    injectStyle();

    // === DOM ===
    const tabs = methods.length > 1 ? h("div", { class: "sg-tabs", role: "group", "aria-label": t.tablist },
      methods.map((m) => h("button", { type: "button", class: "sg-tab", "data-method": m, text: t.tabs[m] || m,
        onclick: () => { if (m !== method && !finishing) { method = m; start(); } } }))) : null;
    const qr = h("img", { class: "sg-qr", alt: t.qrAlt, width: 264, height: 264, hidden: true });
    const mark = h("span", { class: "sg-mark", "aria-hidden": "true", text: "✓" });
    const againBtn = h("button", { type: "button", class: "sg-btn sg-btn-primary", onclick: () => start() });
    const qrBox = h("div", { class: "sg-qr-box" }, [qr, h("div", { class: "sg-overlay" }, [mark, againBtn])]);
    const statusEl = h("p", { class: "sg-status", role: "status", "aria-live": "polite" });
    const subEl = h("p", { class: "sg-sub" });
    const countEl = h("p", { class: "sg-count" });
    const hint = h("p", { class: "sg-mobile-hint", text: t.mobileHint });

    const phoneIn = h("input", { class: "sg-input", type: "tel", name: "phone", autocomplete: "tel", maxlength: 20, required: true });
    const sendBtn = h("button", { type: "button", class: "sg-btn", onclick: sendCode, text: t.sendCode });
    const codeIn = h("input", { class: "sg-input", type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
      pattern: "[0-9]{6}", maxlength: 6, placeholder: t.codePh, required: true });
    const demoCodeEl = h("p", { class: "sg-democode", hidden: true });
    const formMsg = h("p", { class: "sg-msg", role: "alert" });
    const bindBtn = h("button", { type: "submit", class: "sg-btn sg-btn-primary", text: t.bind });
    const skipBtn = o.phonePolicy === "optional" ? h("button", { type: "button", class: "sg-btn sg-btn-quiet", onclick: skip, text: t.skip }) : null;
    const form = h("form", { class: "sg-form", novalidate: true, hidden: true, onsubmit: bind }, [
      h("label", { class: "sg-field" }, [h("span", { text: t.phone }), h("div", { class: "sg-row" }, [phoneIn, sendBtn])]),
      h("label", { class: "sg-field" }, [h("span", { text: t.code }), codeIn]),
      demoCodeEl, formMsg, bindBtn, skipBtn
    ]);

    const demoBtns = ["new", "returning"].map((u) => h("button", { type: "button", class: "sg-btn",
      text: u === "new" ? t.demoNew : t.demoReturning, onclick: () => demoScan(u) }));
    const demoMsg = h("p", { class: "sg-msg sg-err" });
    const demo = o.demo ? h("div", { class: "sg-demo" }, [h("p", { class: "sg-demo-title", text: t.demoTitle })].concat(demoBtns, [demoMsg])) : null;

    el.textContent = "";
    el.appendChild(h("div", { class: "sg", lang: lang === "zh" ? "zh-CN" : "en" }, [tabs, qrBox, statusEl, subEl, countEl, form, hint, demo]));

    // === view ===
    function render() {
      const phoneStep = status === "need_phone";
      const done = ["cancelled", "expired", "failed"].indexOf(status) >= 0;
      const ok = status === "scanned" || status === "confirmed";
      if (tabs) {
        // Switching method mid-way would throw the scanned attempt away.
        tabs.hidden = phoneStep || finishing;
        for (const b of tabs.children) {
          b.setAttribute("aria-pressed", String(b.getAttribute("data-method") === method));
        }
      }
      qrBox.hidden = phoneStep;
      qr.hidden = !attempt || status === "failed";
      qrBox.classList.toggle("sg-dim", ok || done);
      mark.hidden = !ok;
      againBtn.hidden = !done;
      againBtn.textContent = status === "failed" ? t.again : t.refresh;
      const head = status === "failed" ? error || t.failed : t[status] || "";
      if (statusEl.textContent !== head) statusEl.textContent = head;
      subEl.textContent = offline ? t.offline : status === "waiting" ? t.waitingSub
        : status === "scanned" ? t.scannedSub : phoneStep ? t.needPhoneSub : "";
      subEl.classList.toggle("sg-warn", offline);
      form.hidden = !phoneStep;
      hint.hidden = status !== "waiting";
      if (demo) demo.hidden = status !== "waiting";
      renderCount();
    }

    function renderCount() {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      const show = (status === "waiting" || status === "scanned") && deadline > 0;
      const s = Math.max(left, 0);
      countEl.hidden = !show;
      if (show) countEl.textContent = fmt(t.expiresIn, { t: Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0") });
      if (show && left <= 0) setStatus("expired");
    }

    function setStatus(st) {
      if (!alive || st === status) return;
      status = st;
      if (LIVE.indexOf(st) < 0) stopPolling();
      render();
      emit("onStatus", st);
      if (st === "need_phone" && !phoneIn.value) phoneIn.focus();
    }

    function fail(message, code) {
      error = message;
      offline = false;
      status = "";
      setStatus("failed");
      emit("onError", { error: code || "error", message });
      againBtn.focus();
    }

    const errorText = (r) => (r ? (r.data.error && t.errors[r.data.error]) || r.data.message || t.failed : t.network);
    const failWith = (r) => fail(errorText(r), r ? r.data.error : "network");

    function stopPolling() {
      loop++;
      if (pollCtl) pollCtl.abort();
    }

    // === flow ===
    async function start() {
      const g = ++gen;
      stopPolling();
      if (ctl) ctl.abort();
      ctl = new AbortController();
      attempt = null;
      deadline = 0;
      finishing = offline = paused = false;
      resetPhone();
      status = "";
      setStatus("loading");
      const r = await call("POST", api("/qr"), { method, rd: o.rd }, ctl.signal);
      if (stale(g)) return;
      if (!r || !r.ok || !r.data.id || !r.data.poll) return failWith(r);
      attempt = r.data;
      // Count down on the server's clock: the visitor's may be minutes off.
      const serverNow = Date.parse(r.headers.get("Date") || "") / 1000;
      const skew = isFinite(serverNow) ? Date.now() / 1000 - serverNow : 0;
      deadline = (Number(attempt.expires_at) + skew) * 1000;
      qr.src = attempt.qr_image;
      setStatus("waiting");
      poll();
    }

    async function poll() {
      const me = ++loop, g = gen;
      let delay = 0;
      while (!stale(g) && me === loop && LIVE.indexOf(status) >= 0) {
        const sep = attempt.poll.indexOf("?") >= 0 ? "&" : "?";
        // After a failure ask for an immediate answer, to learn soon that the network is back.
        const url = attempt.poll + sep + "wait=" + (offline ? 0 : WAIT) + "&since=" + encodeURIComponent(status);
        const pc = (pollCtl = new AbortController());
        const timer = setTimeout(() => pc.abort(), (WAIT + 15) * 1000);
        const r = await call("GET", url, null, pc.signal);
        clearTimeout(timer);
        if (stale(g) || me !== loop) return;
        if (!r || r.status >= 500 || r.status === 429) {
          delay = retryAfter(r) * 1000 || Math.min(delay * 2 || 1000, 16000);
          if (!offline) {
            offline = true;
            render();
          }
          await sleep(delay);
          continue;
        }
        delay = 0;
        if (offline) {
          offline = false;
          render();
        }
        if (!r.ok) return failWith(r);
        const st = r.data.status;
        if (st === "confirmed" && r.data.ticket) return finish(r.data.ticket);
        if (LIVE.concat(["cancelled", "expired"]).indexOf(st) < 0) return fail(t.failed, "bad_status");
        setStatus(st);
      }
    }

    async function finish(ticket) {
      if (finishing) return;
      finishing = true;
      const g = gen;
      setStatus("confirmed");
      const r = await call("POST", api("/session"), { ticket }, ctl.signal);
      if (stale(g)) return;
      if (!r || !r.ok) return failWith(r);
      if (typeof o.onSuccess === "function") emit("onSuccess", r.data);
      else if (r.data.redirect) root.location.assign(r.data.redirect);
    }

    // === phone step ===
    function say(msg, isError) {
      formMsg.textContent = msg || "";
      formMsg.classList.toggle("sg-err", !!isError);
    }

    function resetPhone() {
      form.reset();
      say("");
      demoCodeEl.hidden = true;
      setCooldown(0);
    }

    function setCooldown(n) {
      clearInterval(cooldownTimer);
      cooldown = n;
      const show = () => {
        sendBtn.textContent = cooldown > 0 ? fmt(t.resend, { n: cooldown }) : t.sendCode;
        sendBtn.disabled = cooldown > 0 || busy;
      };
      show();
      if (n > 0) {
        cooldownTimer = setInterval(() => {
          cooldown--;
          show();
          if (cooldown <= 0) clearInterval(cooldownTimer);
        }, 1000);
      }
    }

    // One form request at a time; resolves to the answer, or undefined once stale or after
    // showing a network error.
    async function formCall(path, body, btn) {
      const g = gen;
      busy = btn.disabled = true;
      const r = await call("POST", api(path), body, ctl.signal);
      busy = false;
      btn.disabled = btn === sendBtn && cooldown > 0;
      if (stale(g)) return;
      if (!r) return say(t.network, true);
      return r;
    }

    async function sendCode() {
      if (busy || cooldown > 0 || !attempt) return;
      const phone = phoneIn.value.trim();
      if (!/^\+?[0-9][0-9 -]{4,19}$/.test(phone)) {
        say(t.badPhone, true);
        return phoneIn.focus();
      }
      say("");
      const r = await formCall("/phone/code", { id: attempt.id, phone }, sendBtn);
      if (!r) return;
      if (r.status === 429) {
        const n = retryAfter(r) || RESEND_S;
        setCooldown(n);
        say(fmt(t.wait, { n }), true);
      } else if (!r.ok) {
        say(errorText(r), true);
        phoneIn.focus();
      } else {
        setCooldown(RESEND_S);
        say(t.codeSent);
        demoCodeEl.hidden = !r.data.demo_code;
        demoCodeEl.textContent = fmt(t.demoCode, { c: r.data.demo_code });
        codeIn.focus();
      }
    }

    async function bind(ev) {
      ev.preventDefault();
      if (busy || !attempt) return;
      const phone = phoneIn.value.trim();
      const code = codeIn.value.replace(/\s+/g, "");
      if (!phone) {
        say(t.badPhone, true);
        return phoneIn.focus();
      }
      if (!/^[0-9]{6}$/.test(code)) {
        say(t.badCode, true);
        return codeIn.focus();
      }
      const r = await formCall("/phone/bind", { id: attempt.id, phone, code }, bindBtn);
      if (!r) return;
      if (r.ok && r.data.ticket) return finish(r.data.ticket);
      say(errorText(r), true);
      // No code to wait for: a new one may be asked for at once (phone_taken is said only
      // after the right code, and the gateway then withdraws it).
      if (r.data.error === "code_expired" || r.data.error === "phone_taken") setCooldown(0);
      (r.data.error === "phone_taken" ? phoneIn : codeIn).select();
    }

    async function skip() {
      if (busy || !attempt) return;
      const r = await formCall("/phone/skip", { id: attempt.id }, skipBtn);
      if (!r) return;
      if (r.ok && r.data.ticket) finish(r.data.ticket);
      else say(errorText(r), true);
    }

    async function demoScan(user) {
      if (!attempt) return;
      const g = gen;
      demoMsg.textContent = "";
      const r = await call("POST", api("/demo/scan"), { id: attempt.id, user }, ctl.signal);
      if (!stale(g) && !(r && r.ok)) demoMsg.textContent = errorText(r);
    }

    // === lifecycle ===
    const tick = setInterval(() => paused || renderCount(), 1000);

    function onVisibility() {
      clearTimeout(hiddenTimer);
      if (document.hidden) {
        hiddenTimer = setTimeout(() => {
          paused = true;
          stopPolling();
        }, HIDDEN_PAUSE_MS);
      } else if (paused) {
        paused = false;
        renderCount();
        if (attempt && !finishing && LIVE.indexOf(status) >= 0) poll();
      }
    }
    document.addEventListener("visibilitychange", onVisibility);

    function unmount() {
      if (!alive) return;
      alive = false;
      stopPolling();
      if (ctl) ctl.abort();
      clearInterval(tick);
      clearInterval(cooldownTimer);
      clearTimeout(hiddenTimer);
      document.removeEventListener("visibilitychange", onVisibility);
      el.textContent = "";
    }

    start();
    return { restart: () => start(), unmount };
  }

  root.ScanGate = { mount, version: 1 };

  // The hosted login page carries its options in <script type="application/json" id="scangate-config">.
  function boot() {
    const cfgEl = document.getElementById("scangate-config");
    const target = document.getElementById("scangate-login");
    if (!cfgEl || !target) return;
    let cfg = null;
    try {
      cfg = JSON.parse(cfgEl.textContent);
    } catch (_) {
      return;
    }
    mount(target, Object.assign(cfg, { onSuccess: (r) => root.location.assign(r.redirect || cfg.rd || "/") }));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})(window);
