//! The Mini Program code of an attempt: made by `getwxacodeunlimit` at start, kept in the
//! store beside the attempt, served as an image to the browser that started it.

use crate::identity::{AttemptId, BrowserSecret, LoginMethod, SceneId};
use crate::wechat::client::WxaCodeRequest;
use crate::wechat::Error as WechatError;

use super::error::LoginError;
use super::keys;
use super::service::{LoginService, NewCode, Result};
use super::state::Status;

/// Width in pixels WeChat draws the code at (its default; 280..=1280 allowed).
const CODE_WIDTH: u32 = 430;

/// A Mini Program code image, for `GET {auth_path}/qr/{id}.png`.
#[derive(Clone, PartialEq, Eq)]
pub struct QrImage {
    pub bytes: Vec<u8>,
    /// `image/png` or `image/jpeg`, from the bytes themselves (WeChat sends JPEG by default,
    /// PNG for transparent codes, and its `Content-Type` has been seen wrong).
    pub content_type: &'static str,
}

impl std::fmt::Debug for QrImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrImage")
            .field("len", &self.bytes.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// The media type of a PNG or JPEG image, by its signature; `None` for anything else.
pub(super) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const JPEG: &[u8] = b"\xff\xd8\xff";
    if bytes.starts_with(PNG) {
        Some("image/png")
    } else if bytes.starts_with(JPEG) {
        Some("image/jpeg")
    } else {
        None
    }
}

impl LoginService {
    /// A Mini Program code for `scene` (the attempt id: 22 URL-safe base64 characters, inside
    /// the code's 32-character scene alphabet). An answer that is not an image is a WeChat
    /// error here, rather than a broken image on the page.
    pub(super) async fn mini_program_code(&self, scene: &SceneId) -> Result<NewCode> {
        let Some(mp) = &self.inner.mini_program else {
            return Err(LoginError::MethodUnavailable);
        };
        let request = WxaCodeRequest {
            scene: scene.as_str().to_string(),
            page: mp.page.clone(),
            env_version: mp.env_version.clone(),
            check_path: mp.check_path,
            width: CODE_WIDTH,
        };
        let image = mp
            .api
            .wxacode_unlimited(&request)
            .await
            .map_err(LoginError::Wechat)?;
        if image_type(&image).is_none() {
            tracing::warn!(
                api = "wxacode_unlimited",
                "WeChat answered something that is neither PNG nor JPEG"
            );
            return Err(LoginError::Wechat(WechatError::Decode(
                "getwxacodeunlimit answered something that is neither PNG nor JPEG".into(),
            )));
        }
        // Branded once here, then kept with the attempt like WeChat's own image.
        let image = match &self.inner.logo {
            Some(logo) if logo.format() == crate::config::LogoFormat::Png => {
                logo.composite(&image).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the Mini Program code could not be branded; served as WeChat drew it");
                    image
                })
            }
            _ => image,
        };
        Ok(NewCode {
            wechat_ticket: None,
            qr_content: String::new(),
            lifetime: keys::MINI_PROGRAM_SECONDS,
            image: Some(image),
        })
    }

    /// The Mini Program code image of the browser's attempt. [`LoginError::NotFound`] for an
    /// unknown attempt, another browser's, or an Official Account one (its code is text:
    /// [`LoginService::qr_content`]), and for an image outlived by a long phone step;
    /// [`LoginError::Expired`] once the attempt has expired.
    pub async fn qr_image(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<QrImage> {
        let (_, attempt) = self.load_for(id, browser).await?;
        if attempt.method != LoginMethod::MiniProgram {
            return Err(LoginError::NotFound);
        }
        if attempt.status_at(now) == Status::Expired {
            return Err(LoginError::Expired);
        }
        let Some(bytes) = self.inner.store.get(&keys::qr_image(id)).await? else {
            // Written with the attempt's first TTL, which the phone step extends for the
            // attempt only: the code, scanned long ago, may be gone by then.
            return Err(LoginError::NotFound);
        };
        let content_type = image_type(&bytes).ok_or(LoginError::Corrupt)?;
        Ok(QrImage {
            bytes,
            content_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_by_their_signature() {
        // PNG signature: RFC 2083 §12.12; JPEG SOI marker and the first marker's 0xFF.
        assert_eq!(
            image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(
            image_type(b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Some("image/jpeg")
        );
        assert_eq!(image_type(br#"{"errcode":40169}"#), None);
        assert_eq!(image_type(b"\x89PNG"), None, "truncated");
        assert_eq!(image_type(b""), None);
    }

    #[test]
    fn attempt_ids_fit_the_mini_program_scene() {
        // wechat-protocol.md §9.1: at most 32 visible characters from this set.
        const SCENE_CHARS: &str =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$&'()*+,/:;=?@-._~";
        for _ in 0..200 {
            let id = SceneId::of(&AttemptId::random()).into_string();
            assert!(id.len() <= 32, "{id}");
            assert!(id.chars().all(|c| SCENE_CHARS.contains(c)), "{id}");
        }
    }

    #[test]
    fn debug_shows_the_size_not_the_bytes() {
        let image = QrImage {
            bytes: vec![0x89; 1000],
            content_type: "image/png",
        };
        let shown = format!("{image:?}");
        assert!(shown.contains("1000") && shown.len() < 100, "{shown}");
    }
}
