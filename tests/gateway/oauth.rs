//! Sign-in through WeChat's own pages, end to end over real HTTP: WeChat's web authorization
//! inside WeChat's browser (`in_wechat`) and the Open Platform website application's QR page
//! (`website`), played by the simulator as `open.weixin.qq.com`. A browser follows the
//! redirects by hand (its own cookie jar, WeChat's user agent), so every hop is checked:
//! `oauth/start` → WeChat's page → `oauth/callback` → `/check` → `rd`, or the login page at
//! the phone step, or the login page saying why not.

use scangate::demo::Demo;
use scangate::identity::{OpenId, Phone, UnionId};
use scangate::login::keys;
use scangate::users::UserDirectory;
use scangate::wechat_sim::{SimApi, SimHandle, SimUser};
use serde_json::{json, Value};

use crate::browser::{Answer, Browser};
use crate::harness::*;

pub const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";
pub const WECOM_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.20 MicroMessenger/7.0.1 Language/zh";
pub const DESKTOP_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
pub const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The Official Account the simulator plays, with web authorization on.
pub const OA_APP_ID: &str = "wx0a0a0a0a0a0a0a0a";

/// `wechat` and `login` sections: the simulator's account with `oauth: true` (and `scope`),
/// the website method, and `phone`.
pub fn sections(scope: &str, phone: &str) -> String {
    format!(
        "wechat:\n  simulate: true\n  official_account:\n    app_id: {OA_APP_ID}\n    \
         app_secret: oa-secret\n    token: tok123\n    oauth: true\n    oauth_scope: {scope}\n\
         login:\n  methods: [official_account, website]\n  phone: {phone}\n"
    )
}

/// The deployment's `public_url` is the gateway's own loopback address, so that WeChat's
/// `redirect_uri` (made from it) reaches this gateway.
pub fn on_loopback(c: &mut scangate::config::Config) {
    let origin = format!("http://{}", c.listen);
    c.public_url.origin = origin.clone();
    c.public_url.host = "127.0.0.1".into();
    c.session.issuer = origin;
}

pub struct Site {
    pub gw: Gateway,
    _app: Echo,
}

pub async fn site(sections: &str) -> Site {
    let app = Echo::start("app").await;
    let gw = Gateway::start_with(
        &format!("{sections}routes:\n{}", login_routes(app.addr)),
        on_loopback,
    )
    .await;
    Site { gw, _app: app }
}

pub fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

fn users(gw: &Gateway) -> UserDirectory {
    UserDirectory::new(gw.app().login.as_ref().unwrap().store.clone())
}

/// [`person`] `name` as a user of the Official Account (as its QR code made them), with
/// `phone`.
async fn known_user(gw: &Gateway, name: &str, phone: &str) -> scangate::users::User {
    users(gw)
        .register(
            OA_APP_ID,
            &OpenId::new(format!("o_{name}")),
            Some(&UnionId::new(format!("un_{name}"))),
            Some(&Phone::parse(phone).unwrap()),
            now(),
        )
        .await
        .unwrap()
}

/// The website application the demo plays (its app id).
fn website_app_id(gw: &Gateway) -> String {
    gw.app()
        .config
        .wechat
        .website
        .as_ref()
        .unwrap()
        .app_id
        .clone()
}

fn person(name: &str) -> SimUser {
    SimUser {
        openid: format!("o_{name}"),
        unionid: Some(format!("un_{name}")),
        follows: true,
    }
}

/// A browser with a user agent: every request a navigation (as a person clicking).
pub struct Device<'g> {
    pub gw: &'g Gateway,
    pub jar: Browser<'g>,
    ua: &'static str,
}

impl<'g> Device<'g> {
    pub fn new(gw: &'g Gateway, ua: &'static str) -> Self {
        Device {
            gw,
            jar: Browser::new(gw),
            ua,
        }
    }

    /// A navigation to `url`: a path of the gateway, or an absolute URL (the simulator's
    /// pages, or the gateway at `public_url`).
    pub async fn open(&self, url: &str) -> Answer {
        let url = if url.starts_with('/') {
            self.gw.url(url)
        } else {
            url.to_string()
        };
        self.jar
            .send(
                self.gw
                    .client
                    .get(url)
                    .header("user-agent", self.ua)
                    .header("accept", HTML),
            )
            .await
    }

    /// `open`, which must redirect: the `Location`.
    pub async fn hop(&self, url: &str) -> String {
        let a = self.open(url).await;
        assert_eq!(a.status, 302, "{url}: {} {}", a.status, a.body);
        a.header("location").unwrap().to_string()
    }

    /// From `oauth/start` (for `method` and `rd`) to WeChat's page: its URL.
    pub async fn to_wechat(&self, method: &str, rd: &str) -> String {
        let rd: String = form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        self.hop(&format!(
            "/.auth/wechat/oauth/start?method={method}&rd={rd}"
        ))
        .await
    }

    /// On WeChat's page, follows the button marked `marker`: the callback URL it sends the
    /// browser to.
    pub async fn press(&self, page_url: &str, marker: &str) -> String {
        let page = self.open(page_url).await;
        assert_eq!(page.status, 200, "{page_url}");
        let html = page.body.as_str().unwrap().to_string();
        let at = html
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} on {html}"));
        let start = at + html[at..].find("href=\"").unwrap() + 6;
        let end = start + html[start..].find('"').unwrap();
        let href = html[start..end].replace("&amp;", "&");
        let base = page_url.split("/connect/").next().unwrap();
        self.hop(&format!("{base}{href}")).await
    }

    /// A whole sign-in: start, WeChat's page, the button, the callback. The callback's
    /// answer.
    pub async fn sign_in(&self, method: &str, rd: &str, marker: &str) -> Answer {
        let wechat = self.to_wechat(method, rd).await;
        let callback = self.press(&wechat, marker).await;
        self.open(&callback).await
    }
}

/// The query parameters of a URL, in order, decoded.
fn params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    params(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The login page's widget options (the JSON the page carries).
fn page_config(page: &Answer) -> Value {
    let html = page.body.as_str().unwrap();
    let open = "<script type=\"application/json\" id=\"scangate-config\">";
    let start = html.find(open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// The callback sent the browser to the login page with `error` (and `rd`).
fn assert_refused(answer: &Answer, error: &str, rd: &str) {
    assert_eq!(answer.status, 302, "{}", answer.body);
    let location = answer.header("location").unwrap();
    assert!(location.starts_with("/.auth/login?"), "{location}");
    assert_eq!(
        param(location, "error").as_deref(),
        Some(error),
        "{location}"
    );
    assert_eq!(param(location, "rd").as_deref(), Some(rd), "{location}");
    let sessions: Vec<&str> = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| c.starts_with("scangate_session="))
        .collect();
    assert!(sessions.is_empty(), "no session on a refusal: {sessions:?}");
}

/// Signed in by the callback: the session cookie, and on through `/check` to `rd`.
async fn assert_signed_in(phone: &Device<'_>, answer: &Answer, rd: &str) -> crate::harness::Seen {
    assert_eq!(answer.status, 302, "{}", answer.body);
    let check = answer.header("location").unwrap().to_string();
    let expected: String = form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    assert_eq!(check, format!("/.auth/check?rd={expected}"));
    assert!(phone.jar.cookie("scangate_session").is_some());
    assert_eq!(phone.hop(&check).await, rd);
    phone.jar.app_sees(rd).await
}

async fn metric(gw: &Gateway, line: &str) -> u64 {
    let text = gw
        .client
        .get(format!("{}/metrics", gw.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_sends_the_browser_to_wechat_with_exactly_its_parameters() {
    let s = site(&sections("snsapi_base", "required")).await;
    let phone = Device::new(&s.gw, WECHAT_UA);
    let a = phone
        .open("/.auth/wechat/oauth/start?method=official_account&rd=%2Fdocs%3Fx%3D1")
        .await;
    assert_eq!(a.status, 302);
    let to = a.header("location").unwrap();
    let open_base = sim(&s.gw).api_base();
    assert!(
        to.starts_with(&format!("{open_base}/connect/oauth2/authorize?appid=")),
        "{to}"
    );
    assert!(to.ends_with("#wechat_redirect"), "{to}");
    let callback = format!("{}/.auth/wechat/oauth/callback", s.gw.base);
    // redirect_uri is percent-encoded in the URL (WeChat asks for urlEncode).
    let encoded: String = form_urlencoded::byte_serialize(callback.as_bytes()).collect();
    assert!(to.contains(&format!("&redirect_uri={encoded}&")), "{to}");
    let got = params(to);
    let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["appid", "redirect_uri", "response_type", "scope", "state"]
    );
    assert_eq!(got[0].1, OA_APP_ID);
    assert_eq!(got[1].1, callback);
    assert_eq!(got[2].1, "code");
    assert_eq!(got[3].1, "snsapi_base");
    let state = &got[4].1;
    assert!(
        state.len() == 32 && state.bytes().all(|b| b.is_ascii_hexdigit()),
        "{state}"
    );
    // The state's cookie binds it to this browser, under auth_path, for ten minutes.
    let cookie = a
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&format!("scangate_oauth_{state}=")))
        .unwrap_or_else(|| panic!("no state cookie: {:?}", a.headers));
    for attribute in ["Path=/.auth", "HttpOnly", "SameSite=Lax", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    // Each start is its own state; the website method goes to the qrconnect page.
    let web = phone.to_wechat("website", "/").await;
    assert!(
        web.starts_with(&format!("{open_base}/connect/qrconnect?appid=")),
        "{web}"
    );
    assert_eq!(param(&web, "appid").unwrap(), website_app_id(&s.gw));
    assert_eq!(param(&web, "scope").as_deref(), Some("snsapi_login"));
    assert_eq!(param(&web, "redirect_uri").unwrap(), callback);
    assert_ne!(param(&web, "state").unwrap(), *state);
    assert!(web.ends_with("#wechat_redirect"));
    assert!(
        metric(
            &s.gw,
            "scangate_login_attempts_total{method=\"in_wechat\",outcome=\"started\"}"
        )
        .await
            >= 1
    );

    // An unknown method, or one not offered, goes back to the login page saying so.
    for method in ["qq", "mini_program", ""] {
        let a = phone
            .open(&format!("/.auth/wechat/oauth/start?method={method}&rd=/x"))
            .await;
        assert_eq!(
            a.header("location"),
            Some("/.auth/login?rd=/x&error=method_unavailable"),
            "{method}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_oauth_the_official_account_is_not_offered_by_redirect() {
    let s = site("wechat:\n  simulate: true\nlogin:\n  methods: [official_account]\n").await;
    let phone = Device::new(&s.gw, WECHAT_UA);
    for method in ["official_account", "website"] {
        let a = phone
            .open(&format!("/.auth/wechat/oauth/start?method={method}&rd=/x"))
            .await;
        assert_eq!(
            a.header("location"),
            Some("/.auth/login?rd=/x&error=method_unavailable"),
            "{method}"
        );
    }
    // Nor does WeChat's browser go anywhere but the login page.
    assert_eq!(phone.hop("/docs").await, "/.auth/login?rd=/docs");
    let page = phone.open("/.auth/login?rd=/docs").await;
    assert_eq!(page.status, 200);
    // ...and the website method is no QR attempt.
    let qr = phone
        .jar
        .post("/.auth/qr", json!({"method": "website", "rd": "/"}))
        .await;
    assert_eq!(
        (qr.status, qr.body["error"].as_str()),
        (400, Some("bad_method"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_wechat_the_same_person_is_the_same_user_as_by_the_qr_code() {
    let s = site(&sections("snsapi_base", "off")).await;
    let sim = sim(&s.gw);
    let alice = person("alice");

    // First alice logs in on a computer by scanning the Official Account's QR code.
    let computer = Browser::new(&s.gw);
    let id = computer.start("/home").await;
    let ticket = computer.wechat_ticket(&id).await;
    assert_eq!(sim.scan(&ticket, &alice).await.unwrap().status, 200);
    let polled = computer.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let session = computer
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    let qr_user = session.body["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(session.body["user"]["openid"], "o_alice");

    // Then she opens a link in WeChat: no page of ours, WeChat's authorization, signed in.
    sim.set_oauth_returning_user(&alice);
    let phone = Device::new(&s.gw, WECHAT_UA);
    let entry = phone.hop("/reports?q=1").await;
    assert_eq!(
        entry,
        "/.auth/wechat/oauth/start?method=official_account&rd=/reports%3Fq%3D1"
    );
    let wechat = phone.hop(&entry).await;
    let callback = phone.press(&wechat, "data-user=\"returning\"").await;
    assert!(callback.starts_with(&format!("{}/.auth/wechat/oauth/callback?code=", s.gw.base)));
    let back = phone.open(&callback).await;
    let seen = assert_signed_in(&phone, &back, "/reports?q=1").await;
    assert_eq!(
        seen.header("x-auth-user-id").as_deref(),
        Some(qr_user.as_str())
    );
    assert_eq!(seen.header("x-auth-openid").as_deref(), Some("o_alice"));
    assert_eq!(seen.header("x-auth-method").as_deref(), Some("in_wechat"));
    // The state's cookie is gone with its state.
    assert!(!phone.jar.cookie_header().contains("scangate_oauth_"));
    for outcome in ["started", "scanned", "confirmed", "exchanged"] {
        let line =
            format!("scangate_login_attempts_total{{method=\"in_wechat\",outcome=\"{outcome}\"}}");
        assert_eq!(metric(&s.gw, &line).await, 1, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_website_login_finds_the_person_by_unionid_across_apps() {
    let s = site(&sections("snsapi_base", "required")).await;
    let sim = sim(&s.gw);
    let bob = person("bob");
    // Bob is a user of the Official Account, with a phone.
    let known = known_user(&s.gw, "bob", "13800138055").await;
    sim.set_oauth_returning_user(&bob);
    let desktop = Device::new(&s.gw, DESKTOP_UA);
    let back = desktop
        .sign_in("website", "/dash", "data-user=\"returning\"")
        .await;
    let seen = assert_signed_in(&desktop, &back, "/dash").await;
    assert_eq!(
        seen.header("x-auth-user-id").as_deref(),
        Some(known.id.as_str())
    );
    assert_eq!(seen.header("x-auth-method").as_deref(), Some("website"));
    // The website application's own openid, now also held by bob's one user.
    let web_openid = sim.website_openid(&bob);
    assert_ne!(web_openid, "o_bob");
    assert_eq!(seen.header("x-auth-openid"), Some(web_openid.clone()));
    assert_eq!(seen.header("x-auth-unionid").as_deref(), Some("un_bob"));
    let user = users(&s.gw).get(&known.id).await.unwrap().unwrap();
    assert_eq!(
        user.openid(&website_app_id(&s.gw)).map(|o| o.as_str()),
        Some(web_openid.as_str())
    );
    assert_eq!(user.openid(OA_APP_ID).map(|o| o.as_str()), Some("o_bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_person_who_must_bind_a_phone_lands_at_the_phone_step() {
    let s = site(&sections("snsapi_userinfo", "required")).await;
    let phone = Device::new(&s.gw, WECHAT_UA);
    let back = phone
        .sign_in("official_account", "/orders", "data-user=\"new\"")
        .await;
    assert_eq!(back.status, 302, "{}", back.body);
    let location = back.header("location").unwrap().to_string();
    assert!(
        location.starts_with("/.auth/login?rd=/orders&attempt="),
        "{location}"
    );
    let id = param(&location, "attempt").unwrap();
    assert!(
        phone.jar.binding(&id).is_some(),
        "the attempt is this browser's"
    );
    assert!(phone.jar.cookie("scangate_session").is_none());

    // The page opens at the phone step (inside WeChat, without going back to WeChat).
    let page = phone.open(&location).await;
    assert_eq!(page.status, 200);
    let config = page_config(&page);
    assert_eq!(config["attempt"], id.as_str());
    assert_eq!(
        config["retryUrl"],
        "/.auth/wechat/oauth/start?method=official_account&rd=/orders"
    );
    assert_eq!(
        phone.jar.poll(&id, "", 0).await.body["status"],
        "need_phone"
    );

    // The existing phone endpoints work on it.
    let code = phone.jar.send_code(&id, "13800138066").await;
    let bound = phone.jar.bind(&id, "13800138066", &code).await;
    assert_eq!(bound.status, 200, "{}", bound.body);
    let session = phone
        .jar
        .exchange(bound.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    assert_eq!(session.body["redirect"], "/.auth/check?rd=%2Forders");
    let seen = phone.jar.app_sees("/orders").await;
    assert_eq!(seen.header("x-auth-method").as_deref(), Some("in_wechat"));
    assert_eq!(
        seen.header("x-auth-phone").as_deref(),
        Some("+8613800138066")
    );
    // snsapi_userinfo: the unionid came with the grant.
    assert!(seen
        .header("x-auth-unionid")
        .is_some_and(|u| u.starts_with("un_sim_")));
    assert_eq!(
        metric(
            &s.gw,
            "scangate_login_attempts_total{method=\"in_wechat\",outcome=\"need_phone\"}"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_lands_on_the_login_page_with_its_reason() {
    let s = site(&sections("snsapi_base", "off")).await;
    let sim = sim(&s.gw);
    let phone = Device::new(&s.gw, WECHAT_UA);
    let callback = |state: &str, code: Option<&str>| {
        let mut url = format!("/.auth/wechat/oauth/callback?state={state}");
        if let Some(code) = code {
            url.push_str(&format!("&code={code}"));
        }
        url
    };

    // Declined on WeChat's page: back without a code.
    let wechat = phone.to_wechat("official_account", "/a").await;
    let back = phone.press(&wechat, "data-action=\"deny\"").await;
    assert!(param(&back, "code").is_none(), "{back}");
    let answer = phone.open(&back).await;
    assert_refused(&answer, "oauth_declined", "/a");
    let cleared = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("scangate_oauth_"))
        .expect("the state's cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The login page shows why, and does not send WeChat's browser round again.
    let page = phone.open(answer.header("location").unwrap()).await;
    assert_eq!(page.status, 200, "no loop");
    assert_eq!(page_config(&page)["notice"], "oauth_declined");

    // A state we never issued, in any spelling.
    for state in [
        "",
        "nothex",
        "../../etc",
        "0123456789abcdef0123456789abcdef",
    ] {
        let answer = phone.open(&callback(state, Some("0code"))).await;
        assert_refused(&answer, "oauth_state_invalid", "/");
    }

    // A state used once already.
    sim.set_oauth_returning_user(&person("carol"));
    let wechat = phone.to_wechat("official_account", "/b").await;
    let back = phone.press(&wechat, "data-user=\"returning\"").await;
    let state = param(&back, "state").unwrap();
    let cookie = format!(
        "scangate_oauth_{state}={}",
        phone
            .jar
            .cookie(&format!("scangate_oauth_{state}"))
            .unwrap()
    );
    let first = phone.open(&back).await;
    assert_eq!(
        first.header("location"),
        Some("/.auth/check?rd=%2Fb"),
        "{}",
        first.body
    );
    let replay = Browser::new(&s.gw)
        .send(
            s.gw.get(&back.replace(&s.gw.base, ""))
                .header("cookie", &cookie),
        )
        .await;
    assert_refused(&replay, "oauth_state_invalid", "/");

    // Another browser's state (no cookie, or a forged one): refused, and not used up.
    let wechat = phone.to_wechat("official_account", "/c").await;
    let back = phone.press(&wechat, "data-user=\"returning\"").await;
    let state = param(&back, "state").unwrap();
    let path = back.replace(&s.gw.base, "");
    let stranger = Device::new(&s.gw, WECHAT_UA);
    assert_refused(&stranger.open(&path).await, "oauth_other_browser", "/c");
    let forged = Browser::new(&s.gw)
        .send(s.gw.get(&path).header(
            "cookie",
            format!("scangate_oauth_{state}=AAAAAAAAAAAAAAAAAAAAAA"),
        ))
        .await;
    assert_refused(&forged, "oauth_other_browser", "/c");
    let mine = phone.open(&path).await;
    assert_eq!(mine.header("location"), Some("/.auth/check?rd=%2Fc"));

    // A state past its ten minutes (its deadline moved back, as time would).
    let wechat = phone.to_wechat("official_account", "/d").await;
    let back = phone.press(&wechat, "data-user=\"returning\"").await;
    let state = param(&back, "state").unwrap();
    let store = &s.gw.app().login.as_ref().unwrap().store;
    let key = keys::oauth_state(&state);
    let mut record: Value =
        serde_json::from_slice(&store.get(&key).await.unwrap().unwrap()).unwrap();
    record["expires_at"] = json!(now() - 1);
    store
        .put(&key, &serde_json::to_vec(&record).unwrap(), None)
        .await
        .unwrap();
    assert_refused(&phone.open(&back).await, "oauth_state_expired", "/d");

    // A code WeChat refuses: made up (40029), or used before (40163).
    let wechat = phone.to_wechat("official_account", "/e").await;
    let state = param(&wechat, "state").unwrap();
    assert_refused(
        &phone.open(&callback(&state, Some("0made-up"))).await,
        "oauth_code_refused",
        "/e",
    );
    let code = sim.oauth_code(OA_APP_ID, &person("dave"), "snsapi_base");
    let state = param(&phone.to_wechat("official_account", "/f").await, "state").unwrap();
    let signed = phone.open(&callback(&state, Some(&code))).await;
    assert_eq!(signed.header("location"), Some("/.auth/check?rd=%2Ff"));
    let state = param(&phone.to_wechat("official_account", "/g").await, "state").unwrap();
    assert_refused(
        &phone.open(&callback(&state, Some(&code))).await,
        "oauth_code_refused",
        "/g",
    );

    // WeChat busy: said as such.
    sim.fail_next(SimApi::OAuthAccessToken, 45011);
    let code = sim.oauth_code(OA_APP_ID, &person("erin"), "snsapi_base");
    let state = param(&phone.to_wechat("official_account", "/h").await, "state").unwrap();
    assert_refused(
        &phone.open(&callback(&state, Some(&code))).await,
        "wechat_busy",
        "/h",
    );

    // A snapshot-mode (virtual) account is nobody.
    sim.set_oauth_snapshot(true);
    let code = sim.oauth_code(OA_APP_ID, &person("fred"), "snsapi_base");
    sim.set_oauth_snapshot(false);
    let state = param(&phone.to_wechat("official_account", "/i").await, "state").unwrap();
    assert_refused(
        &phone.open(&callback(&state, Some(&code))).await,
        "oauth_snapshot",
        "/i",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_is_refused_by_both_methods() {
    let s = site(&sections("snsapi_base", "required")).await;
    let sim = sim(&s.gw);
    let mallory = person("mallory");
    let user = known_user(&s.gw, "mallory", "13800138077").await;
    users(&s.gw).set_disabled(&user.id, true).await.unwrap();
    sim.set_oauth_returning_user(&mallory);
    for (method, ua) in [("official_account", WECHAT_UA), ("website", DESKTOP_UA)] {
        let browser = Device::new(&s.gw, ua);
        let back = browser
            .sign_in(method, "/x", "data-user=\"returning\"")
            .await;
        assert_refused(&back, "account_disabled", "/x");
        assert!(browser.jar.cookie("scangate_session").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_redirect_spellings_of_rd_end_at_the_site_root() {
    let s = site(&sections("snsapi_base", "off")).await;
    sim(&s.gw).set_oauth_returning_user(&person("rita"));
    for rd in [
        "//evil.com",
        "https:evil.com",
        "/\\evil.com",
        "/%2F%2Fevil.com",
        "%2F%2Fevil.com",
        "/%5Cevil.com",
        "https://evil.com/",
        "http://gateway.test.evil.com/",
        "javascript:alert(1)",
        "/\t/evil.com",
    ] {
        let phone = Device::new(&s.gw, WECHAT_UA);
        let back = phone
            .sign_in("official_account", rd, "data-user=\"returning\"")
            .await;
        assert_eq!(
            back.header("location"),
            Some("/.auth/check?rd=%2F"),
            "{rd:?}: {}",
            back.body
        );
        assert_eq!(phone.hop("/.auth/check?rd=%2F").await, "/", "{rd:?}");
    }
    // A path of this site, with its query, is kept as it is.
    let phone = Device::new(&s.gw, WECHAT_UA);
    let back = phone
        .sign_in(
            "official_account",
            "/a/b?c=%2F&d",
            "data-user=\"returning\"",
        )
        .await;
    assert_eq!(
        back.header("location"),
        Some("/.auth/check?rd=%2Fa%2Fb%3Fc%3D%252F%26d")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_on_another_host_moves_to_public_urls_host_first() {
    let app = Echo::start("app").await;
    let gw = Gateway::start_with(
        &format!(
            "{}routes:\n  - name: other\n    host: app.test\n    upstreams: [\"{}\"]\n{}",
            sections("snsapi_base", "required"),
            app.addr,
            login_routes(app.addr)
        ),
        on_loopback,
    )
    .await;
    // WeChat comes back to public_url's host, so the state's cookie must be set there.
    let port = gw.addr.port();
    let req = format!(
        "GET /.auth/wechat/oauth/start?method=official_account&rd=%2Fx%3Fy%3D1 HTTP/1.1\r\n\
         Host: app.test:{port}\r\nUser-Agent: {WECHAT_UA}\r\nConnection: close\r\n\r\n"
    );
    let r = raw_request(gw.addr, &req).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "{}/.auth/wechat/oauth/start?method=official_account&rd=http%3A//app.test%3A{port}/x%3Fy%3D1",
                gw.base
            )
            .as_str()
        )
    );
    assert!(
        r.header("set-cookie").is_none(),
        "no state on the wrong host"
    );
    // There, the absolute rd on a host of the routes is kept for the way back.
    let device = Device::new(&gw, WECHAT_UA);
    let to = r.header("location").unwrap();
    let wechat = device.hop(to).await;
    let state = param(&wechat, "state").unwrap();
    let store = &gw.app().login.as_ref().unwrap().store;
    let record: Value = serde_json::from_slice(
        &store
            .get(&keys::oauth_state(&state))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["rd"], format!("http://app.test:{port}/x?y=1"));
    assert_eq!(record["method"], "in_wechat");
}
