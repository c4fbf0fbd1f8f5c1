//! The Mini Program calls (wechat-protocol.md §9): the unlimited code image
//! (`wxa/getwxacodeunlimit`), `sns/jscode2session` and `wxa/business/getuserphonenumber`, on a
//! [`WechatClient`] built with the Mini Program's appid and secret. The token machinery is the
//! Official Account's; the Mini Program has its own token because it has its own appid.
//!
//! The codes a phone sends us (`js_code`, the phone button's code) are credentials: they never
//! appear in an error or a log line, and neither does the `session_key` WeChat hands back with
//! the openid, which this module does not even deserialize.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};

use super::{decode, report, Api, Error, WechatClient};

/// Longest `scene` of a Mini Program code (§9.1).
pub const MAX_WXACODE_SCENE_LEN: usize = 32;
/// Longest code from the phone we pass on; WeChat's are 32 (`wx.login`) and 64 (phone) long.
const MAX_CODE_LEN: usize = 128;
/// Largest code image read: a 1280-pixel image, even uncompressed, fits.
const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// How a PNG file starts.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// How a JPEG file starts (SOI marker, then the next marker's 0xFF).
const JPEG_START: [u8; 3] = [0xff, 0xd8, 0xff];
/// Image widths WeChat accepts (§9.1).
const WIDTHS: std::ops::RangeInclusive<u32> = 280..=1280;

/// A Mini Program code that opens `page` with `scene` (`wxa/getwxacodeunlimit`, §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxaCodeRequest {
    /// 1..=32 characters of `[0-9A-Za-z!#$&'()*+,/:;=?@-._~]`; the page reads it from
    /// `query.scene`. Checked locally (see [`is_valid_wxacode_scene`]).
    pub scene: String,
    /// The page to open, like `pages/login/index`: no leading `/`, no query. Empty = the
    /// Mini Program's home page.
    pub page: String,
    /// `release`, `trial` or `develop`; empty = WeChat's default, `release`.
    pub env_version: String,
    /// Whether `page` must exist in the published version (WeChat's default: true).
    pub check_path: bool,
    /// Image width in pixels, 280..=1280; 0 = WeChat's default, 430.
    pub width: u32,
}

impl Default for WxaCodeRequest {
    /// WeChat's defaults, with an empty scene to fill in.
    fn default() -> Self {
        WxaCodeRequest {
            scene: String::new(),
            page: String::new(),
            env_version: "release".into(),
            check_path: true,
            width: 430,
        }
    }
}

/// Who logged in through the Mini Program (`jscode2session`, §9.2). The `session_key` WeChat
/// returns with it is deliberately absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpSession {
    /// The user's openid for this Mini Program (not the Official Account's).
    pub openid: String,
    /// Set when the Mini Program is bound to an Open Platform account: the same person has
    /// the same unionid in every app of that account.
    pub unionid: Option<String>,
}

/// The phone number the user allowed the Mini Program to read (`getuserphonenumber`, §9.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpPhone {
    /// As WeChat shows it: with a `+<country code>` prefix for foreign numbers only.
    pub phone_number: String,
    /// Without any country prefix.
    pub pure_phone_number: String,
    /// Digits only, e.g. `86`.
    pub country_code: String,
}

/// True when `scene` may be a Mini Program code's scene: 1..=32 characters of
/// `[0-9A-Za-z!#$&'()*+,/:;=?@-._~]` (§9.1; WeChat answers 40169 or 40129 otherwise).
pub fn is_valid_wxacode_scene(scene: &str) -> bool {
    (1..=MAX_WXACODE_SCENE_LEN).contains(&scene.len())
        && scene
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@-._~".contains(&b))
}

impl WechatClient {
    /// `POST /wxa/getwxacodeunlimit`: the image (JPEG from WeChat, PNG from the simulator or
    /// with `is_hyaline`) of a permanent Mini Program code for `req`. A JSON answer is an
    /// error: [`Error::Api`] with 40169/40129 (bad scene), 41030 (page not published),
    /// 45009/45011 (rate limits, 5000 per minute). Arguments are checked locally first
    /// ([`Error::InvalidArgument`]).
    pub async fn wxacode_unlimited(&self, req: &WxaCodeRequest) -> Result<Vec<u8>, Error> {
        if !is_valid_wxacode_scene(&req.scene) {
            return Err(Error::InvalidArgument(
                "scene must be 1..=32 characters of [0-9A-Za-z!#$&'()*+,/:;=?@-._~]",
            ));
        }
        let page = req.page.as_str();
        if page.starts_with('/')
            || page
                .contains(|c: char| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control())
        {
            return Err(Error::InvalidArgument(
                "page must be a path like pages/login/index, without a leading '/' or a query",
            ));
        }
        if !matches!(
            req.env_version.as_str(),
            "" | "release" | "trial" | "develop"
        ) {
            return Err(Error::InvalidArgument(
                "env_version must be release, trial or develop",
            ));
        }
        if req.width != 0 && !WIDTHS.contains(&req.width) {
            return Err(Error::InvalidArgument("width must be 280..=1280 (or 0)"));
        }
        let body = WxaCodeBody {
            scene: &req.scene,
            page: Some(page).filter(|p| !p.is_empty()),
            check_path: req.check_path,
            env_version: Some(req.env_version.as_str()).filter(|e| !e.is_empty()),
            width: Some(req.width).filter(|w| *w != 0),
        };
        let url = format!("{}/wxa/getwxacodeunlimit", self.base);
        let image = self
            .with_token_read(
                Api::WxaCodeUnlimited,
                |token| {
                    self.http
                        .post(&url)
                        .query(&[("access_token", token.expose())])
                        .json(&body)
                },
                MAX_IMAGE_BYTES,
                read_image,
            )
            .await;
        report::outcome(Api::WxaCodeUnlimited, image)
    }

    /// `GET /sns/jscode2session` with this client's appid and secret: who the `wx.login` code
    /// `js_code` belongs to. Codes are single use: [`Error::Api`] 40029 (invalid or expired),
    /// 40163 (already used), 45011 (rate limit), 40226 (high-risk user).
    pub async fn code_to_session(&self, js_code: &str) -> Result<MpSession, Error> {
        check_code(js_code, "js_code must be 1..=128 visible ASCII characters")?;
        let url = format!("{}/sns/jscode2session", self.base);
        let answer: Result<SessionResponse, Error> = self
            .retry_busy(|| {
                self.exchange(
                    Api::Jscode2Session,
                    self.http.get(&url).query(&[
                        ("appid", self.app_id.as_str()),
                        ("secret", self.app_secret.as_str()),
                        ("js_code", js_code),
                        ("grant_type", "authorization_code"),
                    ]),
                )
            })
            .await
            .map_err(|e| scrub(e, &[js_code, &self.app_secret]));
        let answer = report::outcome(Api::Jscode2Session, answer)?;
        if answer.openid.is_empty() {
            return Err(Error::Decode("empty openid".into()));
        }
        Ok(MpSession {
            openid: answer.openid,
            unionid: answer.unionid.filter(|u| !u.is_empty()),
        })
    }

    /// `POST /wxa/business/getuserphonenumber`: the number behind the phone button's code
    /// (single use; [`Error::Api`] 40029 when invalid, used or expired). An answer whose
    /// `watermark.appid` is not this client's appid is refused ([`Error::Decode`]). With
    /// `openid` (the Mini Program user who pressed the button, when known) WeChat also refuses
    /// a code pressed by someone else (40029).
    pub async fn phone_number(
        &self,
        phone_code: &str,
        openid: Option<&str>,
    ) -> Result<MpPhone, Error> {
        check_code(
            phone_code,
            "phone_code must be 1..=128 visible ASCII characters",
        )?;
        let url = format!("{}/wxa/business/getuserphonenumber", self.base);
        let body = PhoneRequest {
            code: phone_code,
            openid,
        };
        let answer: Result<PhoneResponse, Error> = self
            .with_token(Api::GetUserPhoneNumber, |token| {
                self.http
                    .post(&url)
                    .query(&[("access_token", token.expose())])
                    .json(&body)
            })
            .await
            .map_err(|e| scrub(e, &[phone_code]));
        let answer = report::outcome(Api::GetUserPhoneNumber, answer)?;
        let info = answer.phone_info;
        if info.watermark.appid != self.app_id {
            return Err(Error::Decode(
                "phone_info.watermark.appid is not this Mini Program's appid".into(),
            ));
        }
        if info.pure_phone_number.is_empty() {
            return Err(Error::Decode("empty purePhoneNumber".into()));
        }
        Ok(MpPhone {
            phone_number: if info.phone_number.is_empty() {
                info.pure_phone_number.clone()
            } else {
                info.phone_number
            },
            pure_phone_number: info.pure_phone_number,
            country_code: info.country_code,
        })
    }
}

/// Codes come from the phone, so from anyone: refuse junk before it reaches WeChat.
pub(super) fn check_code(code: &str, problem: &'static str) -> Result<(), Error> {
    if (1..=MAX_CODE_LEN).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(problem))
    }
}

/// WeChat's `errmsg` does not echo credentials today; this keeps it so if it ever does.
pub(super) fn scrub(error: Error, values: &[&str]) -> Error {
    match error {
        Error::Api {
            errcode,
            mut errmsg,
        } => {
            for value in values.iter().filter(|v| !v.is_empty()) {
                errmsg = errmsg.replace(value, "***");
            }
            Error::Api { errcode, errmsg }
        }
        other => other,
    }
}

/// An image, told apart from a JSON error by its first bytes rather than its `Content-Type`,
/// which has been `text/plain` or `application/json` for either (§1, pitfall 14).
fn read_image(content_type: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, Error> {
    if body.starts_with(&PNG_SIGNATURE) || body.starts_with(&JPEG_START) {
        return Ok(body);
    }
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let json_type = content_type.is_some_and(|t| t.contains("json") || t.starts_with("text/"));
    if first == Some(b'{') || json_type {
        return Err(match decode::<IgnoredAny>(&body) {
            Err(e) => e,
            Ok(_) => Error::Decode("JSON without an errcode where an image was expected".into()),
        });
    }
    Err(Error::Decode(
        "the answer is neither a PNG or JPEG image nor JSON".into(),
    ))
}

#[derive(Serialize)]
struct WxaCodeBody<'a> {
    scene: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<&'a str>,
    check_path: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    env_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
}

/// `session_key` is not a field here: serde skips it, so it is never held in a `String`.
#[derive(Deserialize)]
struct SessionResponse {
    #[serde(default)]
    openid: String,
    #[serde(default)]
    unionid: Option<String>,
}

#[derive(Serialize)]
struct PhoneRequest<'a> {
    code: &'a str,
    /// Optional: WeChat then checks the code was pressed by this user (wechat-protocol.md §9.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a str>,
}

#[derive(Deserialize)]
struct PhoneResponse {
    phone_info: PhoneInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    #[serde(default)]
    phone_number: String,
    pure_phone_number: String,
    #[serde(deserialize_with = "string_or_number")]
    country_code: String,
    watermark: Watermark,
}

#[derive(Deserialize)]
struct Watermark {
    appid: String,
}

/// `countryCode` is documented as a string but the official example shows the number `86`.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Text(String),
        Number(u64),
    }
    Ok(match Lenient::deserialize(deserializer)? {
        Lenient::Text(text) => text,
        Lenient::Number(number) => number.to_string(),
    })
}

#[cfg(test)]
mod tests;
