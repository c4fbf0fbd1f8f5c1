//! A fake of WeChat's Mini Program APIs. Like WeChat's, each `wx.login` code and phone code it
//! hands out works once: a second use is 40163, a code it never made 40029.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::login::MiniProgramApi;
use crate::wechat::client::{MpPhone, MpSession, UrlLinkRequest, WxaCodeRequest};
use crate::wechat::Error;

/// What the fake draws by default: a PNG signature and some bytes.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake code";

/// One `getwxacodeunlimit` request, as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRequest {
    pub scene: String,
    pub page: String,
    pub env_version: String,
    pub check_path: bool,
    pub width: u32,
}

#[derive(Default)]
pub struct FakeMp {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    issued: u64,
    /// Unused `wx.login` codes: openid and unionid.
    logins: HashMap<String, (String, Option<String>)>,
    /// Unused phone codes: the number as WeChat's `phoneNumber`.
    phones: HashMap<String, String>,
    used: HashSet<String>,
    requests: Vec<CodeRequest>,
    /// The openid named by each `getuserphonenumber` call.
    phone_openids: Vec<String>,
    /// Replaces the PNG the next codes are drawn as.
    image: Option<Vec<u8>>,
    /// The next `getwxacodeunlimit` fails with this errcode.
    fail_code: Option<i64>,
    /// Every `getuserphonenumber` fails with this errcode.
    fail_phone: Option<i64>,
    /// Every `generate_urllink` request, in order.
    link_requests: Vec<UrlLinkRequest>,
    /// The next `generate_urllink` fails with this errcode.
    fail_link: Option<i64>,
}

fn api_error(errcode: i64, errmsg: &str) -> Error {
    Error::Api {
        errcode,
        errmsg: format!("{errmsg} rid: fake"),
    }
}

impl FakeMp {
    /// A fresh `wx.login` code of the user `openid` (with `unionid`, if bound to an Open
    /// Platform account).
    pub fn login_code(&self, openid: &str, unionid: Option<&str>) -> String {
        let mut state = self.state.lock().unwrap();
        state.issued += 1;
        let code = format!("js{:030}", state.issued);
        state.logins.insert(
            code.clone(),
            (openid.to_string(), unionid.map(str::to_string)),
        );
        code
    }

    /// A fresh phone-button code for `number` (as WeChat writes `phoneNumber`).
    pub fn phone_code(&self, number: &str) -> String {
        let mut state = self.state.lock().unwrap();
        state.issued += 1;
        let code = format!("ph{:062}", state.issued);
        state.phones.insert(code.clone(), number.to_string());
        code
    }

    pub fn requests(&self) -> Vec<CodeRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn phone_calls(&self) -> usize {
        self.state.lock().unwrap().phone_openids.len()
    }

    /// The openid each `getuserphonenumber` call named, in order.
    pub fn phone_openids(&self) -> Vec<String> {
        self.state.lock().unwrap().phone_openids.clone()
    }

    pub fn draw_codes_as(&self, image: &[u8]) {
        self.state.lock().unwrap().image = Some(image.to_vec());
    }

    pub fn fail_next_code(&self, errcode: i64) {
        self.state.lock().unwrap().fail_code = Some(errcode);
    }

    pub fn fail_phone(&self, errcode: Option<i64>) {
        self.state.lock().unwrap().fail_phone = errcode;
    }

    pub fn link_requests(&self) -> Vec<UrlLinkRequest> {
        self.state.lock().unwrap().link_requests.clone()
    }

    pub fn fail_next_link(&self, errcode: i64) {
        self.state.lock().unwrap().fail_link = Some(errcode);
    }
}

#[async_trait]
impl MiniProgramApi for FakeMp {
    async fn wxacode_unlimited(&self, req: &WxaCodeRequest) -> Result<Vec<u8>, Error> {
        let mut state = self.state.lock().unwrap();
        if let Some(errcode) = state.fail_code.take() {
            return Err(api_error(errcode, "fake failure"));
        }
        state.requests.push(CodeRequest {
            scene: req.scene.clone(),
            page: req.page.clone(),
            env_version: req.env_version.clone(),
            check_path: req.check_path,
            width: req.width,
        });
        Ok(state.image.clone().unwrap_or_else(|| PNG.to_vec()))
    }

    async fn code_to_session(&self, js_code: &str) -> Result<MpSession, Error> {
        let mut state = self.state.lock().unwrap();
        if state.used.contains(js_code) {
            return Err(api_error(40163, "code been used"));
        }
        let Some((openid, unionid)) = state.logins.remove(js_code) else {
            return Err(api_error(40029, "invalid code"));
        };
        state.used.insert(js_code.to_string());
        Ok(MpSession { openid, unionid })
    }

    async fn phone_number(&self, phone_code: &str, openid: &str) -> Result<MpPhone, Error> {
        let mut state = self.state.lock().unwrap();
        state.phone_openids.push(openid.to_string());
        if let Some(errcode) = state.fail_phone {
            return Err(api_error(errcode, "fake failure"));
        }
        if state.used.contains(phone_code) {
            return Err(api_error(40163, "code been used"));
        }
        let Some(number) = state.phones.remove(phone_code) else {
            return Err(api_error(40029, "invalid code"));
        };
        state.used.insert(phone_code.to_string());
        let pure = number.trim_start_matches("+86").to_string();
        Ok(MpPhone {
            phone_number: number,
            pure_phone_number: pure,
            country_code: "86".into(),
        })
    }

    async fn url_link(&self, req: &UrlLinkRequest) -> Result<String, Error> {
        let mut state = self.state.lock().unwrap();
        if let Some(errcode) = state.fail_link.take() {
            return Err(api_error(errcode, "fake failure"));
        }
        state.link_requests.push(req.clone());
        Ok(format!(
            "https://wxaurl.cn/fake{}",
            state.link_requests.len()
        ))
    }
}
