// scangate Mini Program login page: confirms a login started on a computer.
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

Page({
  data: { state: "loading", message: "" },

  async onLoad(query) {
    // WeChat passes the code's scene URL-encoded.
    const scene = decodeURIComponent(query.scene || "");
    this.scene = scene;
    if (!scene) {
      this.setData({ state: "error", message: "请用微信扫描电脑上的登录码" });
      return;
    }
    const res = await post("/mp/scanned", { scene });
    if (res.status === 200) {
      this.setData({ state: "confirm" });
    } else {
      this.setData({ state: "error", message: res.body.message || "登录码已失效，请在电脑上刷新" });
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
      this.setData({ state: "done", message: needPhone ? "请在电脑上完成手机号验证" : "已登录，请回到电脑继续" });
    } else {
      this.setData({ state: "error", message: res.body.message || "登录失败，请在电脑上刷新登录码" });
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
