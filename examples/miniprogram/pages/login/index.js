// scangate Mini Program login page: confirms a login started on a computer (by its code) or
// on a phone's browser (by a URL Link).
// Set these two to your gateway (its public_url and auth_path).
const GATEWAY = "https://app.example.com";
const AUTH_PATH = "/.auth";

function post(path, data) {
  return new Promise((resolve) => {
    wx.request({
      url: GATEWAY + AUTH_PATH + path,
      method: "POST",
      data,
      header: { "Content-Type": "application/json" },
      success: (res) => resolve({ status: res.statusCode, body: res.data || {} }),
      fail: () => resolve({ status: 0, body: { message: "网络错误，请重试" } }),
    });
  });
}

function loginCode() {
  return new Promise((resolve, reject) => {
    wx.login({ success: (r) => (r.code ? resolve(r.code) : reject(r)), fail: reject });
  });
}

// Opened from a URL Link (the sign-in page on a phone's browser): WeChat's scene value 1194.
const FROM_URL_LINK = 1194;

// The login attempt this page confirms. A Mini Program code passes its `scene` URL-encoded in
// the page's options; a URL Link passes its `query` ("scene=...") as the page's options, so
// `options.scene` is the scene either way (decoding an unencoded scene changes nothing: it is
// URL-safe). Should the page be opened without options (restored by WeChat), the launch
// options still carry the link's query (`query.scene`).
function sceneOf(options) {
  let scene = (options && options.scene) || "";
  if (!scene && wx.getEnterOptionsSync) {
    const enter = wx.getEnterOptionsSync();
    scene = (enter.query && enter.query.scene) || "";
  }
  try {
    return decodeURIComponent(scene);
  } catch (e) {
    return scene;
  }
}

function openedFromLink() {
  return !!wx.getEnterOptionsSync && wx.getEnterOptionsSync().scene === FROM_URL_LINK;
}

Page({
  data: { state: "loading", message: "" },

  async onLoad(options) {
    const scene = sceneOf(options);
    this.scene = scene;
    // Where the person goes back to when done: the computer, or the phone's browser.
    this.back = openedFromLink() ? "浏览器" : "电脑";
    if (!scene) {
      this.setData({ state: "error", message: "请用微信扫描电脑上的登录码，或在手机浏览器中重新打开登录页" });
      return;
    }
    const res = await post("/mp/scanned", { scene });
    if (res.status === 200) {
      this.setData({ state: "confirm" });
    } else {
      this.setData({ state: "error", message: res.body.message || `登录已失效，请在${this.back}上刷新` });
    }
  },

  async confirm(phoneCode) {
    if (this.data.state !== "confirm") return;
    this.setData({ state: "working" });
    let code;
    try {
      code = await loginCode();
    } catch (e) {
      this.setData({ state: "confirm", message: "微信登录失败，请重试" });
      return;
    }
    const body = { scene: this.scene, code };
    if (phoneCode) body.phone_code = phoneCode;
    const res = await post("/mp/confirm", body);
    if (res.status === 200) {
      const needPhone = res.body.status === "need_phone";
      const message = needPhone ? `请回到${this.back}完成手机号验证` : `已登录，请回到${this.back}继续`;
      this.setData({ state: "done", message });
    } else {
      this.setData({ state: "error", message: res.body.message || `登录失败，请在${this.back}上重新开始` });
    }
  },

  onConfirm() {
    this.confirm(null);
  },

  // <button open-type="getPhoneNumber">: e.detail.code is the phone code (not the wx.login code).
  onPhone(e) {
    if (e.detail && e.detail.code) {
      this.confirm(e.detail.code);
    } else {
      // Refused, or the account has no quota left (errno 1400001): confirm without the phone;
      // the computer then asks for an SMS code.
      this.confirm(null);
    }
  },

  async onCancel() {
    await post("/mp/cancel", { scene: this.scene });
    this.setData({ state: "cancelled", message: "已取消登录" });
  },
});
