//! The login service over the real embedded store (a temp dir) and the WeChat simulator over
//! real HTTP: the simulator's "phone" scans and pushes to a small callback server that does
//! what the gateway's callback endpoint does (verify, decrypt, dedupe, `on_scan`). The Mini
//! Program's APIs are a fake (`mp_fake.rs`) behind [`MiniProgramApi`].

mod countries;
mod flows;
mod mini_program;
mod mp_fake;
mod phone;
mod poll;
mod quota;
mod scan;
mod sms_login;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use prometheus::Registry;

use super::*;
use crate::config::model::{LoginConfig, PhonePolicy, SmsConfig};
use crate::identity::{AttemptId, BrowserSecret, CountryCode, LoginMethod, OpenId, Phone, SceneId};
use crate::metrics::Metrics;
use crate::sms::{LimitWindow, Refusal, RefusalKind, Sent, SmsError, SmsSender};
use crate::store::{SqliteStore, Store};
use crate::users::UserDirectory;
use crate::wechat::{
    ApiConfig, CallbackCodec, CallbackConfig, CallbackQuery, PushKind, WechatClient,
};
use crate::wechat_sim::{SimConfig, SimHandle, SimUser, Simulator};
use mp_fake::FakeMp;

pub const APP_ID: &str = "wx_login_test_oa";
/// The Mini Program's app id: its openids are another app's than the Official Account's.
pub const MP_APP_ID: &str = "wx_login_test_mp";
pub const MP_PAGE: &str = "pages/login/index";
const APP_SECRET: &str = "sim-app-secret";
const TOKEN: &str = "callbacktoken";
/// Tencent's sample EncodingAESKey: pushes go out in safe mode.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const QR_EXPIRE: u32 = 300;
pub const CODE_TTL: u64 = 300;
/// The client address login calls come from in these tests.
pub const TEST_IP: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An SMS provider that keeps what it was asked to send, and can be told to fail.
#[derive(Default)]
pub struct CapturingSms {
    sent: Mutex<Vec<(Phone, String)>>,
    fail: AtomicBool,
    /// The provider's answer to every send while set.
    refusal: Mutex<Option<Refusal>>,
}

#[async_trait]
impl SmsSender for CapturingSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(SmsError::Status(503));
        }
        if let Some(refusal) = self.refusal.lock().unwrap().clone() {
            return Err(SmsError::Refused(refusal));
        }
        self.sent
            .lock()
            .unwrap()
            .push((phone.clone(), code.to_string()));
        Ok(Sent::default())
    }
}

#[derive(Clone, Copy)]
pub struct Options {
    pub phone: PhonePolicy,
    pub qr_expire: u32,
    /// Configure the Mini Program method (with the fake API) besides the Official Account.
    pub mini_program: bool,
    pub limits: crate::config::Limits,
    /// `login.phone_countries`.
    pub phone_countries: &'static [&'static str],
    /// `login.sms_signup` (SMS login is always among the methods here).
    pub sms_signup: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            phone: PhonePolicy::Required,
            qr_expire: QR_EXPIRE,
            mini_program: false,
            limits: crate::config::Limits::default(),
            phone_countries: &["86"],
            sms_signup: false,
        }
    }
}

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub users: UserDirectory,
    pub sim: SimHandle,
    pub login: LoginService,
    pub sms: Arc<CapturingSms>,
    /// The Mini Program's WeChat (configured only with [`Options::mini_program`]).
    pub mp: Arc<FakeMp>,
    pub metrics: Metrics,
    registry: Registry,
    /// What `on_scan` answered to each push the callback server handled.
    pub scans: Arc<Mutex<Vec<Result<ScanOutcome, String>>>>,
}

#[derive(Clone)]
struct Callback {
    codec: Arc<CallbackCodec>,
    login: LoginService,
    scans: Arc<Mutex<Vec<Result<ScanOutcome, String>>>>,
}

/// The gateway's callback, reduced to what the login flow needs.
async fn callback(State(cb): State<Callback>, RawQuery(query): RawQuery, body: Bytes) -> String {
    let query = CallbackQuery::parse(query.as_deref().unwrap_or("")).unwrap();
    let inbound = cb.codec.open(&query, &body, unix_now()).unwrap();
    if cb
        .login
        .seen_before(inbound.push.dedupe_key())
        .await
        .unwrap()
    {
        return "success".into();
    }
    let (scene, ticket, new_follower) = match inbound.push.kind {
        PushKind::Subscribe {
            scene: Some(scene),
            ticket,
        } => (scene, ticket, true),
        PushKind::Scan { scene, ticket } => (scene, ticket, false),
        _ => return "success".into(),
    };
    let scan = Scan {
        openid: OpenId::new(inbound.push.header.from_user),
        scene: SceneId::new(scene),
        ticket,
        new_follower,
    };
    let outcome = cb.login.on_scan(scan, unix_now()).await;
    cb.scans
        .lock()
        .unwrap()
        .push(outcome.map_err(|e| e.code().to_string()));
    "success".into()
}

pub async fn fixture() -> Fixture {
    fixture_with(Options::default()).await
}

pub async fn fixture_with(options: Options) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    let users = UserDirectory::new(store.clone());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let callback_url = format!("http://{}/callback", listener.local_addr().unwrap());
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        token: TOKEN.into(),
        encoding_aes_key: Some(AES_KEY.into()),
        callback_url,
    })
    .await
    .unwrap();
    let client = WechatClient::new(ApiConfig {
        api_base: sim.api_base(),
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();

    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let sms = Arc::new(CapturingSms::default());
    let mp = Arc::new(FakeMp::default());
    let mut methods = vec![LoginMethod::OfficialAccount];
    if options.mini_program {
        methods.push(LoginMethod::MiniProgram);
    }
    methods.push(LoginMethod::Sms);
    let login = LoginService::new(LoginDeps {
        store: store.clone(),
        users: users.clone(),
        official_account: Some(crate::login::OfficialAccountDeps {
            client,
            qr_expire_seconds: options.qr_expire,
        }),
        mini_program: options.mini_program.then(|| MiniProgramDeps {
            api: mp.clone(),
            app_id: MP_APP_ID.into(),
            page: MP_PAGE.into(),
            env_version: "trial".into(),
            check_path: false,
        }),
        sms: sms.clone(),
        login: LoginConfig {
            methods,
            sms_signup: options.sms_signup,
            phone: options.phone,
            phone_countries: countries(options.phone_countries),
            code_ttl_seconds: CODE_TTL,
            quota_reserve: Default::default(),
            sms: SmsConfig::Log,
            limits: options.limits,
            site_name: None,
            qr_logo: None,
        },
        metrics: metrics.clone(),
    });

    let codec = CallbackCodec::new(CallbackConfig {
        app_id: APP_ID.into(),
        token: TOKEN.into(),
        encoding_aes_key: Some(AES_KEY.into()),
    })
    .unwrap();
    let scans = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/callback", post(callback))
        .with_state(Callback {
            codec: Arc::new(codec),
            login: login.clone(),
            scans: scans.clone(),
        });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    Fixture {
        _dir: dir,
        store,
        users,
        sim,
        login,
        sms,
        mp,
        metrics,
        registry,
        scans,
    }
}

pub fn new_user(openid: &str) -> SimUser {
    SimUser {
        openid: openid.into(),
        unionid: Some(format!("union-{openid}")),
        follows: false,
    }
}

impl Fixture {
    /// A new attempt from a browser without a binding cookie.
    pub async fn start(&self) -> Started {
        self.login
            .start(
                LoginMethod::OfficialAccount,
                "/app?x=1".into(),
                TEST_IP,
                unix_now(),
            )
            .await
            .unwrap()
    }

    /// The attempt as stored.
    pub async fn attempt(&self, id: &AttemptId) -> Attempt {
        let raw = self.store.get(&keys::attempt(id)).await.unwrap().unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    /// The WeChat QR ticket of an attempt (what the phone's camera reads, in effect).
    pub async fn qr_ticket(&self, id: &AttemptId) -> String {
        self.attempt(id).await.wechat_ticket.unwrap()
    }

    /// The phone scans the attempt's QR code; WeChat pushes to our callback. Returns what
    /// `on_scan` answered.
    pub async fn scan(&self, started: &Started, user: &SimUser) -> ScanOutcome {
        let ticket = self.qr_ticket(&started.id).await;
        let before = self.scans.lock().unwrap().len();
        let pushed = self.sim.scan(&ticket, user).await.unwrap();
        assert_eq!(pushed.status, 200, "{}", pushed.body);
        let scans = self.scans.lock().unwrap();
        assert_eq!(scans.len(), before + 1, "the callback handled one new push");
        scans[before].clone().unwrap()
    }

    pub async fn status(&self, started: &Started) -> PollView {
        self.login
            .poll(
                &started.id,
                &started.browser_secret,
                None,
                Duration::ZERO,
                unix_now(),
            )
            .await
            .unwrap()
    }

    /// The last code the SMS provider was given.
    pub fn last_code(&self) -> String {
        self.sms.sent.lock().unwrap().last().unwrap().1.clone()
    }

    /// The number the last code was sent to.
    pub fn last_number(&self) -> Phone {
        self.sms.sent.lock().unwrap().last().unwrap().0.clone()
    }

    pub fn codes_sent(&self) -> usize {
        self.sms.sent.lock().unwrap().len()
    }

    pub fn fail_sms(&self, fail: bool) {
        self.sms.fail.store(fail, Ordering::SeqCst);
    }

    /// Has the SMS provider refuse every send with `refusal` (`None`: send again).
    pub fn refuse_sms(&self, refusal: Option<Refusal>) {
        *self.sms.refusal.lock().unwrap() = refusal;
    }

    /// The funnel counter `scangate_login_attempts_total{method="official_account",outcome}`.
    pub fn funnel(&self, outcome: &str) -> u64 {
        self.funnel_of("official_account", outcome)
    }

    /// The funnel counter `scangate_login_attempts_total{method,outcome}`.
    pub fn funnel_of(&self, method: &str, outcome: &str) -> u64 {
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &self.registry.gather(),
            &mut text,
        )
        .unwrap();
        let text = String::from_utf8(text).unwrap();
        let prefix =
            format!("scangate_login_attempts_total{{method=\"{method}\",outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.parse().unwrap())
    }

    /// Binds `phone` with a freshly sent code; returns the ticket.
    pub async fn bind(&self, started: &Started, phone: &str, now: u64) -> String {
        let (id, browser) = (&started.id, &started.browser_secret);
        self.login
            .send_code(id, browser, phone, TEST_IP, now)
            .await
            .unwrap();
        let code = self.last_code();
        self.login
            .bind_phone(id, browser, phone, &code, now)
            .await
            .unwrap()
            .ticket
    }
}

fn countries(codes: &[&str]) -> crate::identity::PhoneCountries {
    let codes = codes.iter().map(|c| CountryCode::parse(c).unwrap());
    crate::identity::PhoneCountries::new(codes.collect()).unwrap()
}

pub fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}
