//! The demo's part inside the gateway, with `wechat.simulate: true`: the built-in WeChat
//! simulator playing the Official Account and the Mini Program, a seeded "returning user"
//! (until someone logs in through the demo: then the last who did), the simulated phone's scan (`POST {auth_path}/demo/scan`) and the SMS codes the
//! login page shows. It plugs into the login endpoints through [`DemoHooks`] only.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;

use crate::config::{Config, MiniProgramConfig, OfficialAccountConfig, Secret, WebsiteConfig};
use crate::identity::{AttemptId, BrowserSecret, LoginMethod, OpenId, Phone, UnionId};
use crate::proxy::app::{loopback, DemoHooks, LoginParts};
use crate::proxy::own_request::OwnRequest;
use crate::proxy::respond::{GatewayError, Reply};
use crate::proxy::App;
use crate::sms::{Sent, SmsError, SmsSender};
use crate::users::UserDirectory;
use crate::wechat_sim::{MpPage, SimConfig, SimHandle, SimUser, Simulator};

use super::returning::RecentUsers;

/// The openid of the demo's seeded returning user.
pub const RETURNING_OPENID: &str = "o_demo_returning_user";
/// The unionid of the demo's seeded returning user.
const RETURNING_UNIONID: &str = "un_demo_returning";
/// The demo's seeded returning user's phone.
pub const RETURNING_PHONE: &str = "+8619999999999";
/// Codes kept for the page at most; more (nobody reading them) and the oldest go.
const MAX_SHOWN_CODES: usize = 1024;

/// The demo inside a running gateway.
pub struct Demo {
    /// The simulator's handle: its "phone" scans, and tests inject faults through it.
    pub simulator: SimHandle,
    codes: Arc<ShownCodes>,
    /// Whom the phone played as "new": "returning" is the last of them to log in.
    recent: RecentUsers,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("api_base", &self.simulator.api_base())
            .finish_non_exhaustive()
    }
}

/// The Official Account the simulator plays when the config names none.
pub(super) fn simulated_account() -> OfficialAccountConfig {
    let mut rng = rand::thread_rng();
    OfficialAccountConfig {
        encoding_aes_key: Some(Secret::new(Alphanumeric.sample_string(&mut rng, 43))),
        ..OfficialAccountConfig::new(
            "wx5ca9a7e0000000de",
            Secret::new(Alphanumeric.sample_string(&mut rng, 32)),
            Secret::new(Alphanumeric.sample_string(&mut rng, 32)),
        )
    }
}

/// The Mini Program the simulator plays when the config names none.
fn simulated_mini_program() -> MiniProgramConfig {
    MiniProgramConfig {
        app_id: "wx5ca9a7e00000mp01".to_string(),
        app_secret: Secret::new(Alphanumeric.sample_string(&mut rand::thread_rng(), 32)),
        page: "pages/login/index".to_string(),
        env_version: "release".to_string(),
    }
}

/// The website application the simulator plays when the config names none.
fn simulated_website() -> WebsiteConfig {
    WebsiteConfig {
        app_id: "wx5ca9a7e00000web1".to_string(),
        app_secret: Secret::new(Alphanumeric.sample_string(&mut rand::thread_rng(), 32)),
    }
}

impl Demo {
    /// Starts the simulator for `config` (`wechat.simulate: true`) on the current runtime and
    /// points the config at it: `wechat.api_base` and `wechat.open_base`, and an Official
    /// Account, a Mini Program and a website application (the config's own, or made up) that
    /// the simulator plays. Pushes go to the gateway's callback on `listen`.
    pub async fn start(config: &mut Config) -> Result<Demo, String> {
        let oa = config
            .wechat
            .official_account
            .get_or_insert_with(simulated_account)
            .clone();
        let callback_url = format!(
            "http://{}{}/wechat/callback",
            loopback(config.listen),
            config.auth_path
        );
        let simulator = Simulator::start(SimConfig {
            app_id: oa.app_id.clone(),
            app_secret: oa.app_secret.expose().to_string(),
            token: oa.token.expose().to_string(),
            encoding_aes_key: oa.encoding_aes_key.as_ref().map(|k| k.expose().to_string()),
            callback_url,
        })
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
        config.wechat.api_base = simulator.api_base().to_string();
        let mp = config
            .wechat
            .mini_program
            .get_or_insert_with(simulated_mini_program);
        simulator.add_mini_program(&mp.app_id, mp.app_secret.expose());
        // A URL Link opens the simulated Mini Program page, which calls this gateway.
        let gateway = format!("http://{}", loopback(config.listen));
        simulator.set_mini_program_page(&gateway, &config.auth_path);
        // WeChat's authorize and qrconnect pages are the simulator's too.
        config.wechat.open_base = simulator.api_base().to_string();
        let site = config.wechat.website.get_or_insert_with(simulated_website);
        simulator.add_website_app(&site.app_id, site.app_secret.expose());
        tracing::warn!(api_base = %config.wechat.api_base, "wechat.simulate: using the built-in WeChat simulator");
        let demo = Demo {
            simulator,
            codes: Arc::default(),
            recent: RecentUsers::default(),
        };
        // "Returning" on WeChat's simulated pages is the seeded user until someone new comes.
        demo.simulator
            .set_oauth_returning_user(&demo.returning_user());
        Ok(demo)
    }

    /// Registers the returning user (with a bound phone) for the Official Account `app_id`,
    /// unless it exists, so the demo can show both first and repeat logins.
    pub async fn seed(&self, users: &UserDirectory, app_id: &str) {
        let openid = OpenId::new(RETURNING_OPENID);
        match users.find_by_openid(app_id, &openid).await {
            Ok(Some(_)) => return,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the demo user");
                return;
            }
        }
        let phone = Phone::parse(RETURNING_PHONE).ok();
        let unionid = UnionId::new(RETURNING_UNIONID);
        let now = crate::proxy::app::unix_now();
        if let Err(e) = users
            .register(app_id, &openid, Some(&unionid), phone.as_ref(), now)
            .await
        {
            tracing::warn!(error = %e, "cannot register the demo user");
        }
    }

    /// `sms` (the configured provider), also keeping each code it sends for the page to show.
    pub fn showing_codes(&self, sms: Arc<dyn SmsSender>) -> Arc<dyn SmsSender> {
        Arc::new(ShowingSms {
            inner: sms,
            codes: self.codes.clone(),
        })
    }

    /// The demo of `app`, when it runs one.
    pub fn of(app: &App) -> Option<&Demo> {
        app.login
            .as_ref()?
            .demo
            .as_ref()?
            .as_any()
            .downcast_ref::<Demo>()
    }

    /// The demo's seeded returning user: already follows the account and is registered.
    /// "returning" on the page is this person only until someone logs in through the demo
    /// ([`Self::last_user`]).
    pub fn returning_user(&self) -> SimUser {
        SimUser {
            openid: RETURNING_OPENID.to_string(),
            unionid: Some(RETURNING_UNIONID.to_string()),
            follows: true,
        }
    }

    /// Who "returning" scans as: the person who logged in through this demo last (played as
    /// "new" before, or the seeded one), else the seeded one.
    pub async fn last_user(&self, users: &UserDirectory) -> SimUser {
        self.recent
            .last_logged_in(users, self.returning_user())
            .await
    }

    /// A person never seen before: a fresh openid, not following yet.
    pub fn new_user(&self) -> SimUser {
        let mut bytes = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        SimUser {
            openid: format!("o_sim_{id}"),
            unionid: Some(format!("un_sim_{id}")),
            follows: false,
        }
    }

    /// `POST /demo/scan {"id", "user": "new"|"returning"}`: the simulated phone scans the
    /// attempt's code, as a new person (remembered) or as the last to log in. For an Official Account code, WeChat (the simulator) pushes the signed,
    /// encrypted event to our own callback; for a Mini Program code, the simulated phone opens
    /// our Mini Program page, which calls `/mp/scanned` and `/mp/confirm` over HTTP exactly as
    /// `examples/miniprogram` does.
    async fn scan(
        &self,
        app: &App,
        login: &LoginParts,
        req: &OwnRequest<'_>,
        browser: Option<&str>,
    ) -> Result<Reply, GatewayError> {
        // Without the binding cookie, the same answer as for an unknown attempt.
        let browser = browser.ok_or(GatewayError::from(crate::login::LoginError::NotFound))?;
        let body: ScanBody =
            serde_json::from_slice(&req.body).map_err(|e| GatewayError::BadRequest {
                code: "bad_json",
                message: format!("The request body is not the expected JSON: {e}"),
            })?;
        let returning = match body.user.as_str() {
            "returning" => true,
            "new" => false,
            other => {
                return Err(GatewayError::BadRequest {
                    code: "bad_user",
                    message: format!("user must be \"new\" or \"returning\", not {other:?}"),
                })
            }
        };
        let user = if returning {
            self.last_user(&UserDirectory::new(login.store.clone()))
                .await
        } else {
            let user = self.new_user();
            self.recent.remember(&user);
            user
        };
        let unavailable = |e: String| GatewayError::Unavailable {
            message: format!("The simulated phone could not scan: {e}"),
        };
        // A malformed id or cookie names no attempt of this browser: as for an unknown one.
        let (Ok(id), Ok(browser)) = (AttemptId::parse(&body.id), BrowserSecret::parse(browser))
        else {
            return Err(crate::login::LoginError::NotFound.into());
        };
        let method = login
            .service
            .method_of(&id, &browser)
            .await
            .map_err(GatewayError::from)?;
        match method {
            LoginMethod::OfficialAccount => {
                let ticket = login
                    .service
                    .wechat_ticket(&id, &browser, req.now)
                    .await
                    .map_err(GatewayError::from)?;
                let outcome = self
                    .simulator
                    .scan(&ticket, &user)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                Ok(Reply::json(
                    200,
                    &serde_json::json!({"status": "scanned", "callback_status": outcome.status}),
                ))
            }
            LoginMethod::MiniProgram => {
                let base = format!("http://{}", loopback(app.config.listen));
                let page = MpPage::new(&base, &app.config.auth_path);
                let (status, answer) = page.scanned(&body.id).await;
                if status != 200 {
                    return Err(unavailable(answer.to_string()));
                }
                let js_code = self.simulator.mp_login_code(&user);
                // A new user shares a WeChat-verified phone in the same tap; a returning one
                // is already known (by unionid, across both apps).
                let phone_code =
                    (!returning).then(|| self.simulator.mp_phone_code_of(&user, &new_phone()));
                let (status, answer) = page
                    .confirm(&body.id, &js_code, phone_code.as_deref())
                    .await;
                if status != 200 {
                    return Err(unavailable(answer.to_string()));
                }
                Ok(Reply::json(
                    200,
                    &serde_json::json!({"status": answer["status"]}),
                ))
            }
            // No code to scan: an SMS login is not started at /qr.
            LoginMethod::Sms => Err(crate::login::LoginError::NotFound.into()),
            // Signed in on WeChat's own (simulated) page: no code here to scan.
            LoginMethod::Website | LoginMethod::InWechat => {
                Err(crate::login::LoginError::WrongState.into())
            }
        }
    }
}

#[async_trait]
impl DemoHooks for Demo {
    async fn endpoint(
        &self,
        app: &App,
        login: &LoginParts,
        req: &OwnRequest<'_>,
        browser: Option<&str>,
    ) -> Option<Result<Reply, GatewayError>> {
        match req.sub_path {
            "/demo/scan" => Some(self.scan(app, login, req, browser).await),
            _ => None,
        }
    }

    fn shown_code(&self, phone: &str) -> Option<String> {
        let phone = Phone::parse(phone).ok()?;
        self.codes.take(&phone)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Deserialize)]
struct ScanBody {
    id: String,
    /// `new` or `returning`.
    user: String,
}

/// A phone number for a simulated new user: 139 and eight random digits.
fn new_phone() -> String {
    let n: u32 = rand::Rng::gen_range(&mut rand::thread_rng(), 0..100_000_000);
    format!("139{n:08}")
}

/// The last code sent to each number, until the page has shown it.
#[derive(Default)]
struct ShownCodes(Mutex<HashMap<Phone, String>>);

impl ShownCodes {
    fn put(&self, phone: &Phone, code: &str) {
        let mut codes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if codes.len() >= MAX_SHOWN_CODES {
            codes.clear();
        }
        codes.insert(phone.clone(), code.to_string());
    }

    fn take(&self, phone: &Phone) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(phone)
    }
}

/// The configured SMS provider, keeping each code it sent for the demo page.
struct ShowingSms {
    inner: Arc<dyn SmsSender>,
    codes: Arc<ShownCodes>,
}

#[async_trait]
impl SmsSender for ShowingSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError> {
        let sent = self.inner.send(phone, code).await?;
        self.codes.put(phone, code);
        Ok(sent)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;

    #[async_trait]
    impl SmsSender for Quiet {
        async fn send(&self, _: &Phone, _: &str) -> Result<Sent, SmsError> {
            Ok(Sent::default())
        }
    }

    struct Broken;

    #[async_trait]
    impl SmsSender for Broken {
        async fn send(&self, _: &Phone, _: &str) -> Result<Sent, SmsError> {
            Err(SmsError::Timeout)
        }
    }

    #[tokio::test]
    async fn a_sent_code_is_shown_once_for_its_number_in_any_spelling() {
        let codes = Arc::new(ShownCodes::default());
        let sms = ShowingSms {
            inner: Arc::new(Quiet),
            codes: codes.clone(),
        };
        let phone = Phone::parse("13800138006").unwrap();
        sms.send(&phone, "123456").await.unwrap();
        let other = Phone::parse("13800138007").unwrap();
        assert_eq!(codes.take(&other), None);
        assert_eq!(
            codes.take(&Phone::parse("+86 138 0013 8006").unwrap()),
            Some("123456".into())
        );
        assert_eq!(codes.take(&phone), None, "shown once");
    }

    #[tokio::test]
    async fn a_code_the_provider_refused_is_not_shown() {
        let codes = Arc::new(ShownCodes::default());
        let sms = ShowingSms {
            inner: Arc::new(Broken),
            codes: codes.clone(),
        };
        let phone = Phone::parse("13800138006").unwrap();
        assert!(sms.send(&phone, "123456").await.is_err());
        assert_eq!(codes.take(&phone), None);
    }

    #[test]
    fn the_kept_codes_are_bounded() {
        let codes = ShownCodes::default();
        for i in 0..(MAX_SHOWN_CODES as u32 + 10) {
            let phone = Phone::parse(&format!("139{i:08}")).unwrap();
            codes.put(&phone, "000000");
        }
        assert!(codes.0.lock().unwrap().len() <= MAX_SHOWN_CODES);
    }
}
