/*! scangate login widget. ScanGate.mount(element, options) -> { restart(), unmount() }
 * options: authPath ("/.auth"), method, methods (tabs, in order; "sms" is SMS login), rd, lang
 * ("zh"|"en"; default from the browser), device ("desktop"|"phone"|"wechat"; default from the
 * User-Agent as the gateway decides it: a phone gets no QR code but the Mini Program's link
 * and SMS), demo, phonePolicy ("required"|"optional"|"off"), phoneCountries (["86"]),
 * checkSession (default true: a signed-in visitor sees "signed in as" with continue / switch
 * account, and no login starts unless they switch), notice (an error code to show at once),
 * attempt (an attempt of this browser to resume at its phone step), retryUrl ("try again" goes
 * there), inWechat (the demo offers to simulate WeChat's browser), and callbacks
 * onStatus("loading"|"signed_in"|"sms"|"waiting"|"scanned"|"need_phone"|"confirmed"|
 * "cancelled"|"expired"|"failed"|"website"), onError({error, message}), onSuccess({redirect,
 * user}) (default: go to redirect). The method "website" is a link to WeChat's own QR page.
 * The root element carries data-status, data-device and data-error (the last error's code).
 * Branding: site (the name in the widget's heading; default login.site_name, else the host),
 * heading (false: no heading, as on the hosted page, which has its own).
 * Tokens for other backends: ScanGate.token(aud, {authPath}) -> Promise<token> (fresh, cached
 * until shortly before it expires; rejects with {error, message}); with the mount option
 * tokenAudience, onSuccess also receives {token} (or {tokenError} when none could be had). */
(function (root) {
  "use strict";

  // The gateway replaces this marker with the widget's stylesheet (a JSON string).
  const CSS = "__SCANGATE_CSS__";
  // ...and this one with login.site_name (a JSON string; "" when unset: the page's host).
  const SITE = "__SCANGATE_SITE__";
  const WAIT = 25; // long-poll seconds; the server answers earlier on any change
  const HIDDEN_PAUSE_MS = 60000; // stop polling after a minute in a hidden tab
  const MAX_RETRY_MS = 3000; // a gateway back from a restart is noticed within this
  const RESEND_S = 60;
  const LIVE = ["waiting", "scanned", "need_phone"];
  let instances = 0;

  // Every word a person reads. Server errors are shown by their stable `error` code, never
  // by the server's English `message`; a code not listed here reads as `failed`.
  const TEXT = {
    en: {
      tabs: { official_account: "WeChat Official Account", mini_program: "Mini Program", website: "WeChat web login", sms: "SMS code" },
      tablist: "Sign-in method",
      sms: "Sign in with a text message",
      smsSub: "We send a code to your mobile number.",
      smsLogin: "Sign in",
      openWechat: "Open in WeChat",
      linkWaiting: "Sign in with WeChat",
      linkSub: "Open WeChat, confirm there, then come back to this page.",
      orSms: "or with a text message",
      linkExpired: "Link expired — get a new one",
      newLink: "Get a new link",
      loading: "Getting a code…",
      signed_in: "You are signed in",
      signedInAs: "Signed in as {who}",
      continue: "Continue",
      switchAccount: "Switch account",
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
      mobileHint: "On a phone? Open this page on a computer, or long-press the code in WeChat.",
      website: "Sign in on WeChat's page",
      websiteSub: "WeChat shows a code to scan with your phone, then brings you back.",
      websiteGo: "Continue to WeChat",
      qrAlt: "WeChat sign-in QR code",
      phone: "Mobile number",
      phoneHint86: "A mainland China mobile number (11 digits).",
      phoneHintAny: "Mobile number with country code, e.g. +{cc} …",
      sendCode: "Send code",
      resend: "Resend ({n} s)",
      code: "Verification code",
      codePh: "6 digits",
      bind: "Verify and sign in",
      skip: "Skip for now",
      codeSent: "Code sent.",
      demoCode: "Demo: your code is {c}",
      badCode: "Enter the 6-digit code.",
      waitN: "Too many requests. Try again in {n} s.",
      waitDone: "You can try again now.",
      codeDeadWait: "Too many wrong codes. You can request a new code in {n} s.",
      errors: {
        network: "Could not reach the server. Check your connection and try again.",
        not_found: "This sign-in attempt is no longer known. Get a new code.",
        expired: "This code has expired. Get a new code.",
        wrong_state: "This step is no longer possible. Get a new code.",
        cookies_blocked: "Your browser did not keep the sign-in cookie. Allow cookies for this site (in the browser's settings, or leave private mode), then try again.",
        bad_phone: "Enter a valid mobile number.",
        phone_taken: "This number is already bound to another WeChat account.",
        invalid_code: "That code is not right. Check it and try again.",
        code_dead: "Too many wrong codes. Request a new code.",
        code_expired: "That code has expired. Send a new one.",
        rate_limited: "Too many requests. Try again in a moment.",
        ticket_invalid: "This sign-in could not be completed. Get a new code.",
        method_unavailable: "This sign-in method is not available right now.",
        account_disabled: "This account is disabled. Contact the site's administrator.",
        no_account: "No account uses this number. Sign in with WeChat first.",
        busy: "The server is busy. Try again.",
        wechat_unavailable: "WeChat did not answer. Try again in a moment.",
        wechat_busy: "WeChat is busy right now. Try again in a few minutes.",
        login_paused: "Signing in with WeChat is briefly unavailable. It is back at {t}.",
        wechat_misconfigured: "Signing in with WeChat is not available on this site right now. Please contact the site's administrator.",
        sms_unavailable: "The code could not be sent. Try again in a moment.",
        sms_limited: "This number has received as many codes as the SMS service allows for now. Try again later (the limit lifts within a day at most), or use another number.",
        unavailable: "Sign-in is unavailable right now. Try again in a moment.",
        cross_site: "This request came from another site and was refused.",
        origin_not_allowed: "This page may not ask for a sign-in token.",
        bad_audience: "This page asked for a sign-in token the wrong way.",
        unknown_audience: "This page asked for a sign-in token this site does not issue.",
        unauthenticated: "You are not signed in. Sign in again.",
        blocked: "This account is blocked.",
        request_timeout: "The request took too long. Try again.",
        oauth_declined: "You did not allow signing in with WeChat.",
        oauth_state_invalid: "This sign-in link is not valid or was already used. Try again.",
        oauth_state_expired: "This sign-in took too long. Try again.",
        oauth_other_browser: "This sign-in was started in another browser, or this one did not keep its cookie. Try again here.",
        oauth_code_refused: "WeChat did not accept this sign-in. Try again.",
        oauth_snapshot: "WeChat opened a preview of this page. Tap “Use full service” at the bottom, then try again."
      },
      demoInWechat: "Simulate: open inside WeChat",
      siteTitle: "Sign in to {site}",
      demoTitle: "Demo mode",
      demoNew: "Simulate scan: new user",
      demoReturning: "Simulate scan: returning user"
    },
    zh: {
      tabs: { official_account: "公众号", mini_program: "小程序", website: "微信网页登录", sms: "短信验证码" },
      tablist: "登录方式",
      sms: "短信验证码登录",
      smsSub: "验证码将发送到您的手机。",
      smsLogin: "登录",
      openWechat: "在微信中打开",
      linkWaiting: "使用微信登录",
      linkSub: "打开微信并确认登录，然后回到本页。",
      orSms: "或使用短信验证码",
      linkExpired: "链接已过期，请重新获取",
      newLink: "重新获取链接",
      loading: "正在获取二维码…",
      signed_in: "您已登录",
      signedInAs: "当前登录：{who}",
      continue: "继续",
      switchAccount: "切换账号",
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
      mobileHint: "正在用手机？请在电脑上打开本页，或在微信中长按识别二维码。",
      website: "在微信登录页登录",
      websiteSub: "微信将显示二维码，用手机扫码确认后返回本站。",
      websiteGo: "前往微信登录",
      qrAlt: "微信登录二维码",
      phone: "手机号",
      phoneHint86: "请输入中国大陆手机号（11 位）。",
      phoneHintAny: "请输入带国家代码的手机号，例如 +{cc} …",
      sendCode: "获取验证码",
      resend: "重新发送（{n} 秒）",
      code: "验证码",
      codePh: "6 位数字",
      bind: "验证并登录",
      skip: "暂时跳过",
      codeSent: "验证码已发送。",
      demoCode: "演示：验证码是 {c}",
      badCode: "请输入 6 位验证码。",
      waitN: "请求过于频繁，请在 {n} 秒后重试。",
      waitDone: "现在可以重试了。",
      codeDeadWait: "验证码错误次数过多，{n} 秒后可重新获取验证码。",
      errors: {
        network: "无法连接服务器，请检查网络后重试。",
        not_found: "本次登录已失效，请刷新二维码。",
        expired: "二维码已过期，请刷新。",
        wrong_state: "当前步骤已失效，请刷新二维码。",
        cookies_blocked: "您的浏览器没有保存登录所需的 Cookie。请在浏览器设置中允许本站使用 Cookie（或退出无痕/隐私模式），然后重试。",
        bad_phone: "请输入有效的手机号。",
        phone_taken: "该手机号已绑定其他微信账号。",
        invalid_code: "验证码不正确，请检查后重试。",
        code_dead: "验证码错误次数过多，请重新获取验证码。",
        code_expired: "验证码已过期，请重新获取。",
        rate_limited: "请求过于频繁，请稍后重试。",
        ticket_invalid: "登录未能完成，请刷新二维码。",
        method_unavailable: "该登录方式暂不可用。",
        account_disabled: "该账号已被停用，请联系网站管理员。",
        no_account: "该手机号尚未注册，请先使用微信登录。",
        busy: "服务器繁忙，请重试。",
        wechat_unavailable: "微信暂时没有响应，请稍后重试。",
        wechat_busy: "微信当前繁忙，请几分钟后再试。",
        login_paused: "微信登录暂时不可用，将于 {t} 恢复。",
        wechat_misconfigured: "本网站暂时无法使用微信登录，请联系网站管理员。",
        sms_unavailable: "验证码发送失败，请稍后重试。",
        sms_limited: "该手机号获取验证码的次数已达短信服务的上限，请稍后再试（最迟次日恢复），或更换手机号。",
        unavailable: "登录服务暂不可用，请稍后重试。",
        cross_site: "该请求来自其他网站，已被拒绝。",
        origin_not_allowed: "此页面无权获取登录令牌。",
        bad_audience: "此页面获取登录令牌的方式有误。",
        unknown_audience: "本站不签发此页面所要的登录令牌。",
        unauthenticated: "您尚未登录，请重新登录。",
        blocked: "此账号已被停用。",
        request_timeout: "请求超时，请重试。",
        oauth_declined: "您未同意微信授权登录。",
        oauth_state_invalid: "登录链接无效或已使用，请重试。",
        oauth_state_expired: "登录超时，请重试。",
        oauth_other_browser: "本次登录始于其他浏览器，或本浏览器未保存 Cookie，请在此重试。",
        oauth_code_refused: "微信未通过本次授权，请重试。",
        oauth_snapshot: "微信打开的是页面预览，请点击底部“使用完整服务”后重试。"
      },
      demoInWechat: "模拟：在微信中打开",
      siteTitle: "登录 {site}",
      demoTitle: "演示模式",
      demoNew: "模拟扫码：新用户",
      demoReturning: "模拟扫码：老用户"
    }
  };
  // Codes that mean "the server is in trouble", worded alike.
  for (const l of Object.keys(TEXT)) {
    const e = TEXT[l].errors;
    e.store_unavailable = e.users_unavailable = e.internal = e.bad_gateway = e.unavailable;
  }

  const fmt = (s, v) => s.replace(/\{(\w+)\}/g, (_, k) => String(v[k]));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // What the page is shown on, as the gateway decides it from the User-Agent: WeChat's own
  // browser (not WeCom's), a phone's browser, or a desktop.
  function pickDevice(device) {
    if (["desktop", "phone", "wechat"].indexOf(device) >= 0) return device;
    const ua = String((root.navigator && navigator.userAgent) || "");
    if (/MicroMessenger/i.test(ua) && !/wxwork/i.test(ua)) return "wechat";
    return /Mobile|Android|iPhone/i.test(ua) ? "phone" : "desktop";
  }

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

  // When a paused login (WeChat's quota of codes spent) is back, as HH:MM on the person's own
  // clock: Retry-After, unlike retryAfter's, may be hours (midnight in Beijing).
  function pausedUntil(r) {
    const n = parseInt((r && r.headers && r.headers.get("Retry-After")) || "", 10);
    if (!(n > 0)) return "";
    const at = new Date(Date.now() + n * 1000);
    return String(at.getHours()).padStart(2, "0") + ":" + String(at.getMinutes()).padStart(2, "0");
  }

  function retryAfter(r) {
    const n = parseInt((r && r.headers.get("Retry-After")) || "", 10);
    return n > 0 && n < 3600 ? n : 0;
  }

  // The code of a failed answer: the server's `error`, "rate_limited" for any 429, "network"
  // for no answer.
  const codeOf = (r) => (!r ? "network" : r.status === 429 ? "rate_limited" : String(r.data.error || "failed"));

  function injectStyle() {
    if (!CSS || document.getElementById("scangate-css")) return;
    const s = h("style", { id: "scangate-css" });
    s.textContent = CSS;
    document.head.appendChild(s);
  }

  // "+8613800138000" -> "138****8000"; anything else as it is.
  function maskPhone(p) {
    const d = String(p || "").replace(/^\+86/, "");
    return d.length >= 7 ? d.slice(0, 3) + "****" + d.slice(-4) : d;
  }

  function mount(el, options) {
    const o = Object.assign({ authPath: "/.auth", rd: "/", demo: false, phonePolicy: "required", phoneCountries: ["86"], checkSession: true }, options);
    const lang = pickLang(o.lang);
    const t = TEXT[lang];
    const uid = "sg" + ++instances;
    const methods = Array.isArray(o.methods) && o.methods.length ? o.methods.slice() : [o.method || "official_account"];
    const device = pickDevice(o.device);
    const smsOn = methods.indexOf("sms") >= 0;
    // A phone cannot scan the code it shows: it opens the Mini Program by a link instead (and
    // offers SMS beside it), with no tabs; only a phone with neither still gets a QR code.
    const mobile = device !== "desktop";
    const linkMode = mobile && methods.indexOf("mini_program") >= 0;
    const tabMethods = mobile && (linkMode || smsOn) ? [] : methods;
    let method = linkMode ? "mini_program" : mobile && smsOn ? "sms" : methods.indexOf(o.method) >= 0 ? o.method : methods[0];
    const api = (p) => String(o.authPath).replace(/\/+$/, "") + p;
    const emit = (name, arg) => {
      // A throwing callback must not break the widget; rethrow outside our flow.
      try {
        if (typeof o[name] === "function") o[name](arg);
      } catch (e) {
        setTimeout(() => { throw e; });
      }
    };
    const errText = (code) => t.errors[code] || t.failed;

    // gen names the current attempt and loop the current poll loop: bumping one makes every
    // async step started under the old value stand down, so two polls never run at once.
    let alive = true, gen = 0, loop = 0, ctl = null, pollCtl = null;
    let attempt = null, status = "loading", deadline = 0, finishing = false;
    let error = "", errorCode = "", offline = false, paused = false, busy = false;
    let cooldown = 0, cooldownTimer = null, hiddenTimer = null, user = null;
    // A restart of the gateway can forget an attempt: one new code at once, not a loop.
    let renewedUnknown = false;
    // Every code spends one of WeChat's daily quota: a widget in a hidden tab asks for its
    // code when it is first shown, not before.
    let startWhenShown = false;
    // A refusal with a wait ("try again in N s"), counted down live; 0 when none.
    let failWait = 0, failTimer = null;
    // The form's message: a function, so a countdown in it stays true each second.
    let formText = () => "";
    const stale = (g) => !alive || g !== gen;

    injectStyle();

    // === DOM ===
    const tabs = tabMethods.length > 1 ? h("div", { class: "sg-tabs", role: "group", "aria-label": t.tablist },
      tabMethods.map((m) => h("button", { type: "button", class: "sg-tab", "data-method": m, text: t.tabs[m] || m,
        onclick: () => { if (m !== method && !finishing) { method = m; start(); } } }))) : null;
    const qr = h("img", { class: "sg-qr", alt: t.qrAlt, width: 264, height: 264, hidden: true });
    const mark = h("span", { class: "sg-mark", "aria-hidden": "true", text: "✓" });
    const againBtn = h("button", { type: "button", class: "sg-btn sg-btn-primary sg-again",
      onclick: () => (o.retryUrl ? root.location.assign(o.retryUrl) : start()) });
    const linkBtn = h("a", { class: "sg-btn sg-btn-primary sg-open-wechat", target: "_blank", rel: "noopener", text: t.openWechat });
    // In link mode "get a new link" sits with the link, there being no code to overlay.
    const linkBox = h("div", { class: "sg-link", hidden: true }, [linkBtn, linkMode ? againBtn : null]);
    // Sign-in on WeChat's own page: a link, with the way back.
    const startUrl = (m) => api("/wechat/oauth/start?method=" + m + "&rd=" + encodeURIComponent(o.rd));
    const websiteGo = h("a", { class: "sg-btn sg-btn-primary sg-website-go", href: startUrl("website"), text: t.websiteGo });
    const websiteBox = h("div", { class: "sg-website", hidden: true }, [websiteGo]);
    const qrBox = h("div", { class: "sg-qr-box" }, [qr, h("div", { class: "sg-overlay" }, [mark, linkMode ? null : againBtn])]);
    const orSms = h("p", { class: "sg-or", text: t.orSms, hidden: true });
    const statusEl = h("p", { class: "sg-status", id: uid + "-status", tabindex: "-1" });
    const subEl = h("p", { class: "sg-sub" });
    const live = h("div", { class: "sg-live", role: "status", "aria-live": "polite" }, [statusEl, subEl]);
    const countEl = h("p", { class: "sg-count" });
    const hint = h("p", { class: "sg-mobile-hint", text: t.mobileHint });

    const whoEl = h("p", { class: "sg-who" });
    const continueBtn = h("button", { type: "button", class: "sg-btn sg-btn-primary sg-continue", text: t.continue,
      onclick: () => goOn({ redirect: o.rd, user }) });
    const switchBtn = h("button", { type: "button", class: "sg-btn sg-switch", text: t.switchAccount, onclick: () => start() });
    const signedIn = h("div", { class: "sg-signed-in", hidden: true }, [whoEl, continueBtn, switchBtn]);

    const only86 = o.phoneCountries.length === 1 && String(o.phoneCountries[0]) === "86";
    const phoneHint = h("p", { class: "sg-hint", id: uid + "-phone-hint",
      text: only86 ? t.phoneHint86 : fmt(t.phoneHintAny, { cc: o.phoneCountries[0] }) });
    const phoneIn = h("input", { class: "sg-input", type: "tel", name: "phone", id: uid + "-phone", autocomplete: "tel",
      maxlength: 20, required: true, "aria-describedby": uid + "-phone-hint" });
    const sendBtn = h("button", { type: "button", class: "sg-btn sg-send", onclick: sendCode, text: t.sendCode });
    const codeIn = h("input", { class: "sg-input", type: "text", name: "code", id: uid + "-code", inputmode: "numeric",
      autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6, placeholder: t.codePh, required: true });
    const demoCodeEl = h("p", { class: "sg-democode", hidden: true });
    const formMsg = h("p", { class: "sg-msg", role: "alert" });
    const bindBtn = h("button", { type: "submit", class: "sg-btn sg-btn-primary sg-bind", text: t.bind });
    const skipBtn = o.phonePolicy === "optional" ? h("button", { type: "button", class: "sg-btn sg-btn-quiet sg-skip", onclick: skip, text: t.skip }) : null;
    // The form serves two steps: SMS login ("sms", no attempt needed) and the phone step of a
    // WeChat login ("bind", for its attempt).
    const formMode = () => (status === "need_phone" ? "bind" : "sms");
    // Each label names only its own input (a label wrapping the button would add its text).
    const form = h("form", { class: "sg-form", novalidate: true, hidden: true, onsubmit: bind }, [
      h("div", { class: "sg-field" }, [h("label", { for: phoneIn.id, text: t.phone }), h("div", { class: "sg-row" }, [phoneIn, sendBtn]), phoneHint]),
      h("div", { class: "sg-field" }, [h("label", { for: codeIn.id, text: t.code }), codeIn]),
      demoCodeEl, formMsg, bindBtn, skipBtn
    ]);

    const demoBtns = ["new", "returning"].map((u) => h("button", { type: "button", class: "sg-btn", "data-user": u,
      text: u === "new" ? t.demoNew : t.demoReturning, onclick: () => demoScan(u) }));
    const demoMsg = h("p", { class: "sg-msg sg-err" });
    if (o.inWechat) demoBtns.push(h("a", { class: "sg-btn sg-demo-wechat", href: startUrl("official_account"), text: t.demoInWechat }));
    const demo = o.demo ? h("div", { class: "sg-demo" }, [h("p", { class: "sg-demo-title", text: t.demoTitle })].concat(demoBtns, [demoMsg])) : null;

    // The site's name heads the widget (the hosted page has its own heading: heading: false).
    const siteName = String(o.site || SITE || root.location.hostname || "");
    const siteHead = o.heading === false || !siteName ? null
      : h("p", { class: "sg-site", role: "heading", "aria-level": "2", text: fmt(t.siteTitle, { site: siteName }) });
    const box = h("div", { class: "sg", lang: lang === "zh" ? "zh-CN" : "en", "data-device": device },
      [siteHead, tabs, signedIn, qrBox, websiteBox, live, linkBox, countEl, orSms, form, hint, demo]);
    el.textContent = "";
    el.appendChild(box);

    // === view ===
    function render() {
      const phoneStep = status === "need_phone";
      // SMS stays at hand beside the link whatever becomes of it (a link WeChat would not
      // make, one that expired), and after a failed SMS login.
      const smsStep = smsOn && (status === "sms" || (method === "sms" && status === "failed")
        || (linkMode && ["waiting", "scanned", "cancelled", "expired", "failed"].indexOf(status) >= 0));
      const done = ["cancelled", "expired", "failed"].indexOf(status) >= 0;
      const ok = status === "scanned" || status === "confirmed";
      const isIn = status === "signed_in";
      const isWebsite = status === "website";
      box.setAttribute("data-status", status);
      if (errorCode) box.setAttribute("data-error", errorCode);
      else box.removeAttribute("data-error");
      if (tabs) {
        // Switching method mid-way would throw the scanned attempt away.
        tabs.hidden = phoneStep || finishing || isIn;
        for (const b of tabs.children) {
          b.setAttribute("aria-pressed", String(b.getAttribute("data-method") === method));
        }
      }
      signedIn.hidden = !isIn;
      if (isIn && user) whoEl.textContent = fmt(t.signedInAs, { who: maskPhone(user.phone) || user.id });
      qrBox.hidden = phoneStep || isIn || linkMode || method === "sms" || isWebsite;
      websiteBox.hidden = !isWebsite;
      linkBox.hidden = !linkMode || phoneStep || isIn || status === "loading" || status === "confirmed";
      linkBtn.hidden = status !== "waiting" || !attempt || !attempt.url_link;
      if (attempt && attempt.url_link) linkBtn.setAttribute("href", attempt.url_link);
      orSms.hidden = !(linkMode && smsStep);
      qr.hidden = !attempt || status === "failed";
      qrBox.classList.toggle("sg-dim", ok || done);
      mark.hidden = !ok;
      againBtn.hidden = !done;
      againBtn.disabled = failWait > 0;
      againBtn.textContent = status === "failed" ? t.again : linkMode ? t.newLink : t.refresh;
      const head = status === "failed" ? t.failed : linkMode && status === "waiting" ? t.linkWaiting
        : linkMode && status === "expired" ? t.linkExpired : t[status] || "";
      if (statusEl.textContent !== head) statusEl.textContent = head;
      const sub = offline ? t.offline : status === "failed" ? (failWait > 0 ? fmt(t.waitN, { n: failWait }) : error)
        : status === "waiting" ? (linkMode ? t.linkSub : t.waitingSub) : status === "scanned" ? t.scannedSub
        : phoneStep ? t.needPhoneSub : status === "sms" ? t.smsSub : isWebsite ? t.websiteSub : "";
      if (subEl.textContent !== sub) subEl.textContent = sub;
      subEl.classList.toggle("sg-warn", offline);
      subEl.classList.toggle("sg-err", status === "failed");
      form.hidden = !(phoneStep || smsStep);
      bindBtn.textContent = phoneStep ? t.bind : t.smsLogin;
      if (skipBtn) skipBtn.hidden = !phoneStep;
      hint.hidden = status !== "waiting" || linkMode;
      if (demo) demo.hidden = status !== "waiting";
      renderCount();
      keepFocus();
    }

    // After a change of state, focus goes to what the person can do next, and never gets lost
    // on a control that was just hidden (it would fall back to <body>).
    function focusTarget() {
      if (status === "need_phone" || status === "sms") return phoneIn.value ? codeIn : phoneIn;
      if (status === "signed_in") return continueBtn;
      if (status === "website") return websiteGo;
      if (["cancelled", "expired", "failed"].indexOf(status) >= 0) return failWait > 0 ? statusEl : againBtn;
      return statusEl;
    }
    // States whose next step needs the person: they take focus even from <body> (a code that
    // expired while they looked away). Others only keep focus the widget already had.
    const GRAB = ["need_phone", "expired", "cancelled", "failed"];
    let lastFocusStatus = "", hadFocus = false;
    box.addEventListener("focusin", () => { hadFocus = true; });
    const onFocusIn = (e) => { if (!box.contains(e.target)) hadFocus = false; };
    document.addEventListener("focusin", onFocusIn);
    function keepFocus() {
      const a = document.activeElement;
      const inside = !!a && box.contains(a);
      const hiddenNow = inside && a.offsetParent === null;
      if (status === lastFocusStatus && !hiddenNow) return;
      lastFocusStatus = status;
      const nobody = !a || a === document.body;
      if (inside || (nobody && (hadFocus || GRAB.indexOf(status) >= 0))) {
        const target = focusTarget();
        if (target && target.offsetParent !== null && a !== target) target.focus();
      }
    }

    function renderCount() {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      const show = (status === "waiting" || status === "scanned") && deadline > 0;
      const s = Math.max(left, 0);
      // A link's deadline is the attempt's too, but "the code expires" would not be true.
      countEl.hidden = !show || linkMode;
      if (show) countEl.textContent = fmt(t.expiresIn, { t: Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0") });
      if (show && left <= 0) setStatus("expired");
    }

    function setStatus(st) {
      if (!alive || st === status) return;
      status = st;
      if (LIVE.indexOf(st) < 0) stopPolling();
      render();
      emit("onStatus", st);
    }

    function fail(code, wait, backAt) {
      // A failed exchange ends the finishing: the person may start again, or use the form.
      finishing = false;
      errorCode = code;
      error = code === "login_paused" ? fmt(errText(code), { t: backAt || "" }) : errText(code);
      offline = false;
      status = "";
      startFailWait(wait || 0);
      setStatus("failed");
      emit("onError", { error: code, message: error });
    }
    const failWith = (r) => fail(codeOf(r), r && r.status === 429 ? retryAfter(r) : 0, pausedUntil(r));

    function startFailWait(n) {
      clearInterval(failTimer);
      failWait = n;
      if (n > 0) {
        failTimer = setInterval(() => {
          failWait--;
          if (failWait <= 0) {
            clearInterval(failTimer);
            failWait = 0;
            lastFocusStatus = "";
          }
          render();
        }, 1000);
      }
    }

    function stopPolling() {
      loop++;
      if (pollCtl) pollCtl.abort();
    }

    // === flow ===
    async function checkSession() {
      const g = ++gen;
      ctl = new AbortController();
      status = "";
      setStatus("loading");
      const r = await call("GET", api("/me?optional=1"), null, ctl.signal);
      if (stale(g)) return;
      if (r && r.ok && r.data.user) {
        user = r.data.user;
        return setStatus("signed_in");
      }
      start();
    }

    async function start() {
      const g = ++gen;
      stopPolling();
      if (ctl) ctl.abort();
      ctl = new AbortController();
      attempt = null;
      deadline = 0;
      finishing = offline = paused = false;
      errorCode = "";
      startFailWait(0);
      resetPhone();
      status = "";
      // SMS login needs no attempt: the form is the whole of it.
      if (method === "sms") return setStatus("sms");
      if (method === "website") return setStatus("website");
      setStatus("loading");
      startWhenShown = document.visibilityState === "hidden";
      if (startWhenShown) return;
      const r = await call("POST", api("/qr"), { method, rd: o.rd, link: linkMode }, ctl.signal);
      if (stale(g)) return;
      if (!r || !r.ok || !r.data.id || !r.data.poll || (linkMode && !r.data.url_link)) return failWith(r);
      attempt = r.data;
      // Count down on the server's clock: the visitor's may be minutes off.
      const serverNow = Date.parse(r.headers.get("Date") || "") / 1000;
      const skew = isFinite(serverNow) ? Date.now() / 1000 - serverNow : 0;
      deadline = (Number(attempt.expires_at) + skew) * 1000;
      if (!linkMode) qr.src = attempt.qr_image;
      setStatus("waiting");
      poll();
    }

    // An attempt of this browser that is under way already (back from WeChat's page at the
    // phone step): its status, then the usual polling.
    async function resume(id) {
      const g = ++gen;
      ctl = new AbortController();
      attempt = { id, poll: api("/qr/" + encodeURIComponent(id)) };
      status = "";
      setStatus("loading");
      const r = await call("GET", attempt.poll + "?wait=0", null, ctl.signal);
      if (stale(g)) return;
      if (!r || !r.ok) return failWith(r);
      const st = r.data.status;
      if (st === "confirmed" && r.data.ticket) return finish(r.data.ticket);
      if (LIVE.concat(["cancelled", "expired"]).indexOf(st) < 0) return fail("failed");
      setStatus(st);
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
          // Capped low: a gateway back from a restart or an outage is noticed within seconds.
          delay = Math.min(retryAfter(r) * 1000 || delay * 2 || 500, MAX_RETRY_MS);
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
        if (!r.ok) {
          // The gateway forgot the attempt (a restart without a shared store): a new code at
          // once, once; if that one is unknown too, say so.
          if (r.data.error === "not_found" && !renewedUnknown) {
            renewedUnknown = true;
            return start();
          }
          if (r.data.error === "expired") return setStatus("expired");
          return failWith(r);
        }
        renewedUnknown = false;
        const st = r.data.status;
        if (st === "confirmed" && r.data.ticket) return finish(r.data.ticket);
        if (LIVE.concat(["cancelled", "expired"]).indexOf(st) < 0) return fail("failed");
        setStatus(st);
      }
    }

    async function goOn(result) {
      if (typeof o.onSuccess === "function" && o.tokenAudience) {
        try {
          result = Object.assign({}, result, { token: await token(o.tokenAudience, { authPath: o.authPath, fresh: true }) });
        } catch (e) {
          result = Object.assign({}, result, { tokenError: e });
        }
      }
      if (typeof o.onSuccess === "function") emit("onSuccess", result);
      else if (result.redirect) root.location.assign(result.redirect);
    }

    // `id` names the attempt whose binding cookie goes with the ticket: an SMS login's own.
    async function finish(ticket, id) {
      if (finishing) return;
      finishing = true;
      const g = gen;
      setStatus("confirmed");
      const r = await call("POST", api("/session"), { ticket, id: id || attempt.id }, ctl.signal);
      if (stale(g)) return;
      if (!r || !r.ok) return failWith(r);
      goOn(r.data);
    }

    // === phone step ===
    function say(text, isError) {
      formText = typeof text === "function" ? text : () => text || "";
      formMsg.textContent = formText();
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
        // A message that counts down with the button says the same number.
        const text = formText();
        if (formMsg.textContent !== text) formMsg.textContent = text;
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
      if (!r) return say(errText("network"), true);
      return r;
    }

    // A refusal on the form, in the page's words. One that asks to wait counts down with the
    // resend button, so the two never disagree.
    function formError(r) {
      const code = codeOf(r);
      errorCode = code;
      box.setAttribute("data-error", code);
      if (code === "rate_limited") {
        const n = retryAfter(r) || RESEND_S;
        say(() => (cooldown > 0 ? fmt(t.waitN, { n: cooldown }) : t.waitDone), true);
        setCooldown(n);
      } else if (code === "code_dead") {
        say(() => (cooldown > 0 ? fmt(t.codeDeadWait, { n: cooldown }) : errText("code_dead")), true);
      } else {
        say(errText(code), true);
      }
      emit("onError", { error: code, message: formText() });
    }

    async function sendCode() {
      const sms = formMode() === "sms";
      if (busy || cooldown > 0 || (!sms && !attempt)) return;
      const phone = phoneIn.value.trim();
      if (!/^\+?[0-9][0-9 -]{4,19}$/.test(phone)) {
        say(errText("bad_phone"), true);
        return phoneIn.focus();
      }
      say("");
      // The last code shown is no good once another is on its way.
      demoCodeEl.hidden = true;
      const r = sms ? await formCall("/sms/code", { phone }, sendBtn) : await formCall("/phone/code", { id: attempt.id, phone }, sendBtn);
      if (!r) return;
      if (!r.ok) {
        formError(r);
        if (r.status !== 429) phoneIn.focus();
      } else {
        errorCode = "";
        setCooldown(RESEND_S);
        say(t.codeSent);
        demoCodeEl.hidden = !r.data.demo_code;
        demoCodeEl.textContent = fmt(t.demoCode, { c: r.data.demo_code });
        codeIn.focus();
      }
    }

    async function bind(ev) {
      ev.preventDefault();
      const sms = formMode() === "sms";
      if (busy || (!sms && !attempt)) return;
      const phone = phoneIn.value.trim();
      const code = codeIn.value.replace(/\s+/g, "");
      if (!phone) {
        say(errText("bad_phone"), true);
        return phoneIn.focus();
      }
      if (!/^[0-9]{6}$/.test(code)) {
        say(t.badCode, true);
        return codeIn.focus();
      }
      const r = sms ? await formCall("/sms/login", { phone, code, rd: o.rd }, bindBtn)
        : await formCall("/phone/bind", { id: attempt.id, phone, code }, bindBtn);
      if (!r) return;
      if (r.ok && r.data.ticket) return finish(r.data.ticket, r.data.id);
      const err = codeOf(r);
      // No code to wait for: a new one may be asked for at once (phone_taken and no_account
      // are said only after the right code, and the gateway then withdraws it).
      if (["code_expired", "phone_taken", "no_account"].indexOf(err) >= 0) setCooldown(0);
      formError(r);
      if (!sms && (err === "not_found" || err === "expired" || err === "cookies_blocked")) return fail(err);
      const next = err === "phone_taken" || err === "no_account" ? phoneIn : err === "code_dead" && cooldown <= 0 ? sendBtn : codeIn;
      next.focus();
      if (next.select) next.select();
    }

    async function skip() {
      if (busy || !attempt) return;
      const r = await formCall("/phone/skip", { id: attempt.id }, skipBtn);
      if (!r) return;
      if (r.ok && r.data.ticket) finish(r.data.ticket);
      else formError(r);
    }

    async function demoScan(who) {
      if (!attempt) return;
      const g = gen;
      demoMsg.textContent = "";
      const r = await call("POST", api("/demo/scan"), { id: attempt.id, user: who }, ctl.signal);
      if (!stale(g) && !(r && r.ok)) demoMsg.textContent = errText(codeOf(r));
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
      } else if (startWhenShown) {
        start();
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
      clearInterval(failTimer);
      clearTimeout(hiddenTimer);
      document.removeEventListener("visibilitychange", onVisibility);
      document.removeEventListener("focusin", onFocusIn);
      el.textContent = "";
    }

    if (o.notice) fail(String(o.notice));
    else if (o.attempt) resume(String(o.attempt));
    else if (o.checkSession) checkSession();
    else start();
    return { restart: () => start(), unmount };
  }

  // === tokens for other backends ===
  // GET {authPath}/token?aud= with the session cookie; the answer lives in memory only (never
  // in storage or a URL) and is reused until TOKEN_EARLY_S before it expires.
  const TOKEN_EARLY_S = 30;
  const tokens = {};
  function token(aud, opts) {
    const authPath = String((opts && opts.authPath) || "/.auth").replace(/\/+$/, "");
    const key = authPath + " " + aud;
    const now = Date.now() / 1000;
    const held = tokens[key];
    if (held && !(opts && opts.fresh) && (held.pending || held.until > now)) return held.pending || Promise.resolve(held.token);
    const pending = (async () => {
      let r = null;
      try {
        r = await fetch(authPath + "/token?aud=" + encodeURIComponent(aud), { credentials: "include", headers: { Accept: "application/json" } });
      } catch (_) {
        r = null;
      }
      const data = r ? await r.json().catch(() => ({})) : {};
      if (!r || !r.ok || !data.token) {
        delete tokens[key];
        const error = !r ? "network" : String(data.error || "failed");
        throw { error, message: String(data.message || error) };
      }
      const life = Number(data.expires_in) || 0;
      tokens[key] = { token: data.token, until: now + Math.max(0, life - Math.min(TOKEN_EARLY_S, life / 2)) };
      return data.token;
    })();
    tokens[key] = { pending };
    return pending;
  }

  root.ScanGate = { mount, token, version: 2 };

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
