//! `wechat`: the API and page bases, the Official Account (credentials, callback keys,
//! forwarding, its own replies, the callback source check and web authorization), the Mini
//! Program and the website application.

use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::Validator;
use crate::config::file::{
    KeywordFile, KeywordMatchFile, MiniProgramFile, OAuthScopeFile, OfficialAccountFile,
    RepliesFile, ScanRepliesFile, WebsiteFile, WechatFile,
};
use crate::config::model::{
    Keyword, KeywordMatch, MiniProgramConfig, OAuthScope, OfficialAccountConfig, Replies,
    ScanReplies, WebsiteConfig, WechatConfig, DEFAULT_SCAN_REPLY_CONFIRMED,
};
use crate::config::syntax::HttpUrl;

#[cfg(test)]
mod tests;

/// WeChat's limit for the `Content` of a passive text reply (wechat-protocol.md §7).
const MAX_REPLY_BYTES: usize = 2048;

impl Validator<'_> {
    pub(super) fn wechat(&mut self, wechat: WechatFile) -> Option<WechatConfig> {
        let WechatFile {
            api_base,
            open_base,
            simulate,
            official_account,
            mini_program,
            website,
        } = wechat;
        if simulate && !cfg!(feature = "demo") {
            self.issues.add(
                "wechat.simulate",
                "this scangate was built without the `demo` feature, so it has no simulator \
                 (set it to false, or build with the default features)",
            );
        }
        let api_base = self.base_url("wechat.api_base", &api_base);
        let open_base = self.base_url("wechat.open_base", &open_base);
        let app_ids = [
            official_account.as_ref().and_then(|oa| oa.app_id.clone()),
            mini_program.as_ref().and_then(|mp| mp.app_id.clone()),
        ];
        let official_account = match official_account {
            None => Some(None),
            Some(oa) => self.official_account(oa).map(Some),
        };
        let mini_program = match mini_program {
            None => Some(None),
            Some(mp) => self.mini_program(mp).map(Some),
        };
        let website = match website {
            None => Some(None),
            Some(site) => self.website(site, &app_ids).map(Some),
        };
        Some(WechatConfig {
            api_base: api_base?,
            open_base: open_base?,
            simulate,
            official_account: official_account?,
            mini_program: mini_program?,
            website: website?,
        })
    }

    /// A base URL the client appends paths to: http(s), no query or fragment; a trailing `/`
    /// is dropped.
    fn base_url(&mut self, path: &str, text: &str) -> Option<String> {
        match HttpUrl::parse(text) {
            Ok(url) if url.rest.contains(['?', '#']) => {
                self.reject(path, "must not have a query or fragment")
            }
            Ok(_) => Some(text.trim_end_matches('/').to_string()),
            Err(why) => self.reject(path, why),
        }
    }

    /// `wechat.website`. Its app id must be its own: openids are per app id, so sharing the
    /// Official Account's or the Mini Program's would make two people one user.
    fn website(
        &mut self,
        site: WebsiteFile,
        other_app_ids: &[Option<String>],
    ) -> Option<WebsiteConfig> {
        const AT: &str = "wechat.website";
        let WebsiteFile {
            app_id,
            app_secret,
            app_secret_file,
        } = site;
        let app_id = match self.required_text(&format!("{AT}.app_id"), app_id) {
            Some(id) if other_app_ids.iter().flatten().any(|other| *other == id) => self.reject(
                format!("{AT}.app_id"),
                format!(
                    "{id:?} is the Official Account's or the Mini Program's AppID; the website \
                     application (网站应用, on open.weixin.qq.com) has an AppID of its own"
                ),
            ),
            other => other,
        };
        let app_secret =
            self.required_secret(&format!("{AT}.app_secret"), app_secret, app_secret_file);
        Some(WebsiteConfig {
            app_id: app_id?,
            app_secret: app_secret?,
        })
    }

    fn official_account(&mut self, oa: OfficialAccountFile) -> Option<OfficialAccountConfig> {
        const AT: &str = "wechat.official_account";
        let OfficialAccountFile {
            app_id,
            app_secret,
            app_secret_file,
            token,
            token_file,
            encoding_aes_key,
            encoding_aes_key_file,
            qr_expire_seconds,
            scan_reply,
            scan_replies,
            forward_url,
            forward_logins,
            forward_timeout_ms,
            replies,
            verify_source_ip,
            oauth,
            oauth_scope,
        } = oa;
        let app_id = self.required_text(&format!("{AT}.app_id"), app_id);
        let app_secret =
            self.required_secret(&format!("{AT}.app_secret"), app_secret, app_secret_file);
        let token = match self.required_secret(&format!("{AT}.token"), token, token_file) {
            Some(t) if !is_wechat_token(t.expose()) => {
                self.reject(format!("{AT}.token"), "must be 3 to 32 letters or digits")
            }
            other => other,
        };
        let encoding_aes_key = match self.optional_secret(
            &format!("{AT}.encoding_aes_key"),
            encoding_aes_key,
            encoding_aes_key_file,
        ) {
            Some(Some(key)) if !is_encoding_aes_key(key.expose()) => self.reject(
                format!("{AT}.encoding_aes_key"),
                "must be the 43 characters WeChat generated (base64 of a 32-byte key)",
            ),
            other => other,
        };
        let qr_expire_seconds = self
            .within(
                &format!("{AT}.qr_expire_seconds"),
                qr_expire_seconds,
                60,
                2_592_000,
                "seconds (30 days)",
            )
            // At most 2592000, so it always fits.
            .map(|s| u32::try_from(s).unwrap_or(u32::MAX));
        let forwards = forward_url.is_some();
        let forward_url = match forward_url {
            None => Some(None),
            Some(url) => self.http_url(&format!("{AT}.forward_url"), url).map(Some),
        };
        let forward_logins = if forward_logins && !forwards {
            self.reject(
                format!("{AT}.forward_logins"),
                "has no effect without forward_url",
            )
        } else {
            Some(forward_logins)
        };
        let forward_timeout_ms = self.within(
            &format!("{AT}.forward_timeout_ms"),
            forward_timeout_ms,
            100,
            4500,
            "milliseconds (WeChat waits 5 seconds in all)",
        );
        let replies = self.replies(&format!("{AT}.replies"), replies);
        let scan_replies = self.scan_replies(AT, scan_reply, scan_replies);
        let scope = match oauth_scope {
            OAuthScopeFile::Base => OAuthScope::Base,
            OAuthScopeFile::UserInfo => OAuthScope::UserInfo,
        };
        let oauth = match (oauth, scope) {
            (true, scope) => Some(Some(scope)),
            (false, OAuthScope::Base) => Some(None),
            (false, OAuthScope::UserInfo) => self.reject(
                format!("{AT}.oauth_scope"),
                "has no effect without oauth: true",
            ),
        };
        Some(OfficialAccountConfig {
            app_id: app_id?,
            app_secret: app_secret?,
            token: token?,
            encoding_aes_key: encoding_aes_key?,
            qr_expire_seconds: qr_expire_seconds?,
            scan_replies: scan_replies?,
            forward_url: forward_url?,
            forward_logins: forward_logins?,
            forward_timeout_ms: forward_timeout_ms?,
            replies: replies?,
            verify_source_ip,
            oauth: oauth?,
        })
    }

    /// `scan_replies`, with `scan_reply` as the older spelling of its `confirmed`.
    fn scan_replies(
        &mut self,
        at: &str,
        scan_reply: Option<String>,
        file: ScanRepliesFile,
    ) -> Option<ScanReplies> {
        let ScanRepliesFile {
            confirmed,
            need_phone,
            expired,
            used,
            blocked,
        } = file;
        let confirmed = match (scan_reply, confirmed) {
            (Some(_), Some(_)) => return self.reject(
                format!("{at}.scan_reply"),
                "and scan_replies.confirmed say the same thing: keep only scan_replies.confirmed",
            ),
            (Some(text), None) => (format!("{at}.scan_reply"), text),
            (None, text) => (
                format!("{at}.scan_replies.confirmed"),
                text.unwrap_or_else(|| DEFAULT_SCAN_REPLY_CONFIRMED.to_string()),
            ),
        };
        let mut text = |path: String, text: String| {
            if text.is_empty() {
                Some(text)
            } else {
                self.reply_text(&path, text)
            }
        };
        let confirmed = text(confirmed.0, confirmed.1);
        let need_phone = text(format!("{at}.scan_replies.need_phone"), need_phone);
        let expired = text(format!("{at}.scan_replies.expired"), expired);
        let used = text(format!("{at}.scan_replies.used"), used);
        let blocked = text(format!("{at}.scan_replies.blocked"), blocked);
        Some(ScanReplies {
            confirmed: confirmed?,
            need_phone: need_phone?,
            expired: expired?,
            used: used?,
            blocked: blocked?,
        })
    }

    fn replies(&mut self, at: &str, replies: RepliesFile) -> Option<Replies> {
        let RepliesFile {
            subscribe,
            keywords,
            default,
        } = replies;
        let subscribe = match subscribe {
            None => Some(None),
            Some(text) => self.reply_text(&format!("{at}.subscribe"), text).map(Some),
        };
        let keywords: Vec<Option<Keyword>> = keywords
            .into_iter()
            .enumerate()
            .map(|(i, entry)| self.keyword(&format!("{at}.keywords[{i}]"), entry))
            .collect();
        let keywords = self.unshadowed(at, keywords);
        let default = match default {
            None => Some(None),
            Some(text) => self.reply_text(&format!("{at}.default"), text).map(Some),
        };
        Some(Replies {
            subscribe: subscribe?,
            keywords: keywords?,
            default: default?,
        })
    }

    fn keyword(&mut self, at: &str, entry: KeywordFile) -> Option<Keyword> {
        let KeywordFile {
            matching,
            keyword,
            reply,
        } = entry;
        let matching = match matching {
            Some(KeywordMatchFile::Exact) => Some(KeywordMatch::Exact),
            Some(KeywordMatchFile::Contains) => Some(KeywordMatch::Contains),
            None => self.reject(
                format!("{at}.match"),
                "is required: exact (the whole message) or contains (anywhere in it)",
            ),
        };
        let path = format!("{at}.keyword");
        let keyword = match keyword {
            None => self.reject(path, "is required"),
            Some(k) if k.trim().is_empty() => self.reject(path, "must not be empty"),
            // Messages are trimmed before matching, so such a keyword could never match.
            Some(k) if matching == Some(KeywordMatch::Exact) && k.trim() != k => self.reject(
                path,
                format!("{k:?} must not start or end with spaces: messages are trimmed before an exact match"),
            ),
            Some(k) => Some(k),
        };
        let reply = match reply {
            None => self.reject(format!("{at}.reply"), "is required"),
            Some(text) => self.reply_text(&format!("{at}.reply"), text),
        };
        Some(Keyword {
            matching: matching?,
            keyword: keyword?,
            reply: reply?,
        })
    }

    /// A passive text reply: not blank, and within WeChat's size limit.
    fn reply_text(&mut self, path: &str, text: String) -> Option<String> {
        if text.trim().is_empty() {
            return self.reject(path, "must not be empty");
        }
        if text.len() > MAX_REPLY_BYTES {
            return self.reject(
                path,
                format!(
                    "is {} bytes; WeChat allows at most {MAX_REPLY_BYTES} bytes in a passive text reply (a Chinese character takes 3)",
                    text.len()
                ),
            );
        }
        Some(text)
    }

    /// Refuses a keyword that an earlier one always wins against (first match wins), since
    /// its reply could never be sent. Entries that failed their own checks (`None`) are
    /// skipped here, and make the whole list fail.
    fn unshadowed(&mut self, at: &str, keywords: Vec<Option<Keyword>>) -> Option<Vec<Keyword>> {
        let mut ok = true;
        for (j, later) in keywords.iter().enumerate() {
            let Some(later) = later else { continue };
            let earlier = keywords[..j]
                .iter()
                .enumerate()
                .find_map(|(i, k)| k.as_ref().filter(|k| k.shadows(later)).map(|k| (i, k)));
            if let Some((i, earlier)) = earlier {
                ok = false;
                let how = match earlier.matching {
                    KeywordMatch::Exact => "exact",
                    KeywordMatch::Contains => "contains",
                };
                self.issues.add(
                    format!("{at}.keywords[{j}].keyword"),
                    format!(
                        "{:?} can never match: keywords[{i}] ({how} {:?}) comes first and matches every message it would",
                        later.keyword, earlier.keyword
                    ),
                );
            }
        }
        let all: Option<Vec<Keyword>> = keywords.into_iter().collect();
        all.filter(|_| ok)
    }

    fn mini_program(&mut self, mp: MiniProgramFile) -> Option<MiniProgramConfig> {
        const AT: &str = "wechat.mini_program";
        let MiniProgramFile {
            app_id,
            app_secret,
            app_secret_file,
            page,
            env_version,
        } = mp;
        let app_id = self.required_text(&format!("{AT}.app_id"), app_id);
        let app_secret =
            self.required_secret(&format!("{AT}.app_secret"), app_secret, app_secret_file);
        let page_ok = !page.is_empty()
            && !page.starts_with('/')
            && !page.contains(['?', '#'])
            && !page.contains(char::is_whitespace);
        let page = if page_ok {
            Some(page)
        } else {
            self.reject(
                format!("{AT}.page"),
                format!(
                    "{page:?} is not a page path like pages/login/index (no leading /, no query)"
                ),
            )
        };
        Some(MiniProgramConfig {
            app_id: app_id?,
            app_secret: app_secret?,
            page: page?,
            env_version: env_version.as_str().to_string(),
        })
    }
}

/// WeChat's rule for the callback Token.
fn is_wechat_token(token: &str) -> bool {
    (3..=32).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// 43 letters and digits that decode (with `=` appended) to the 32-byte AES key: what the
/// callback codec accepts at start (`wechat::crypto::decode_key`). Real keys usually have
/// non-zero trailing bits, which base64's default engine rejects (wechat-protocol.md, "Rust
/// pitfall #1").
fn is_encoding_aes_key(key: &str) -> bool {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    key.len() == 43
        && key.bytes().all(|b| b.is_ascii_alphanumeric())
        && LENIENT
            .decode(format!("{key}="))
            .is_ok_and(|bytes| bytes.len() == 32)
}
