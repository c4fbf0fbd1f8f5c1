//! The Mini Program URL Link of an attempt: on a phone's browser there is no code to scan
//! with the phone that shows it, so the page offers a link that opens the Mini Program's login
//! page in WeChat (`generate_urllink`) with the attempt's scene, read by the page as from a
//! code. The browser keeps polling the attempt meanwhile, as for a scanned code.

use crate::identity::{AttemptId, BrowserSecret, LoginMethod};
use crate::wechat::client::UrlLinkRequest;

use super::error::LoginError;
use super::service::{LoginService, Result};
use super::state::Status;

/// Days a link lives, WeChat's shortest: the attempt behind it ends within minutes anyway,
/// and a link opened after that finds its scene no longer valid.
pub const URL_LINK_DAYS: u32 = 1;

impl LoginService {
    /// A URL Link that opens the Mini Program's login page (`wechat.mini_program.page`, its
    /// `env_version`) with `query` = `scene=<the attempt's scene>`, for the browser's waiting
    /// Mini Program attempt.
    ///
    /// Errors: [`LoginError::NotFound`] for an unknown attempt, another browser's, or one of
    /// another method; [`LoginError::Expired`]; [`LoginError::WrongState`] once it is past
    /// waiting; [`LoginError::MethodUnavailable`] without a Mini Program;
    /// [`LoginError::Wechat`] when WeChat refuses (no URL Link permission, page not
    /// published, limits).
    pub async fn mini_program_link(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<String> {
        let Some(mp) = &self.inner.mini_program else {
            return Err(LoginError::MethodUnavailable);
        };
        let (_, attempt) = self.load_for(id, browser).await?;
        if attempt.method != LoginMethod::MiniProgram {
            return Err(LoginError::NotFound);
        }
        match attempt.status_at(now) {
            Status::Waiting => {}
            Status::Expired => return Err(LoginError::Expired),
            _ => return Err(LoginError::WrongState),
        }
        let request = UrlLinkRequest {
            path: mp.page.clone(),
            // The scene is 22 URL-safe characters: nothing to escape in a query.
            query: format!("scene={}", attempt.scene),
            env_version: mp.env_version.clone(),
            expire_days: URL_LINK_DAYS,
        };
        let link = mp
            .api
            .url_link(&request)
            .await
            .map_err(LoginError::Wechat)?;
        tracing::info!(attempt = %attempt.id, "mini program URL link made");
        Ok(link)
    }
}
