//! The simulated web authorization over real HTTP: the pages' checks and redirects, and the
//! code exchange's single use, scopes and error codes.

use serde_json::Value;

use super::super::*;

const OA_APP_ID: &str = "wx_oa_sim";
const OA_SECRET: &str = "oa-sim-secret";
const WEB_APP_ID: &str = "wx_web_sim";
const WEB_SECRET: &str = "web-sim-secret";
const BACK: &str = "https://app.example.com/.auth/wechat/oauth/callback";

async fn sim() -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: OA_APP_ID.into(),
        app_secret: OA_SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap();
    sim.add_website_app(WEB_APP_ID, WEB_SECRET);
    sim
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Status, `Location` and body of a GET.
async fn get(url: &str) -> (u16, Option<String>, String) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

fn page_url(sim: &SimHandle, page: &str, params: &[(&str, &str)]) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}/connect/{page}?{query}", sim.api_base())
}

fn authorize(app_id: &str, scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("appid", app_id.into()),
        ("redirect_uri", BACK.into()),
        ("response_type", "code".into()),
        ("scope", scope.into()),
        ("state", "0123abcd".into()),
    ]
}

/// A page's query, as (name, value) pairs.
type Query = Vec<(&'static str, String)>;

fn pairs<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The `href` of the link marked `marker` (an attribute) on a page, unescaped.
fn link(page: &str, marker: &str) -> String {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {page}"));
    let href = &page[at..];
    let start = href.find("href=\"").unwrap() + 6;
    let end = start + href[start..].find('"').unwrap();
    href[start..end].replace("&amp;", "&")
}

/// The query parameters of a redirect's `Location`.
fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param(location: &str, name: &str) -> Option<String> {
    query_of(location)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

async fn exchange(sim: &SimHandle, app_id: &str, secret: &str, code: &str) -> Value {
    let url = format!(
        "{}/sns/oauth2/access_token?appid={app_id}&secret={secret}&code={code}&grant_type=authorization_code",
        sim.api_base()
    );
    let (_, _, body) = get(&url).await;
    serde_json::from_str(&body).unwrap()
}

fn user() -> SimUser {
    SimUser {
        openid: "o_person".into(),
        unionid: Some("un_person".into()),
        follows: false,
    }
}

#[tokio::test]
async fn allow_sends_the_browser_back_with_a_code_and_deny_without_one() {
    let sim = sim().await;
    let params = authorize(OA_APP_ID, "snsapi_userinfo");
    let (status, _, page) = get(&page_url(&sim, "oauth2/authorize", &pairs(&params))).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("授权登录") && page.contains(OA_APP_ID),
        "{page}"
    );

    let allow = link(&page, "data-user=\"new\"");
    let (status, location, _) = get(&format!("{}{allow}", sim.api_base())).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(&format!("{BACK}?code=")), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("0123abcd"));
    let code = param(&location, "code").unwrap();
    let grant = exchange(&sim, OA_APP_ID, OA_SECRET, &code).await;
    assert_eq!(grant["scope"], "snsapi_userinfo");
    assert!(grant["openid"].as_str().unwrap().starts_with("o_sim_"));
    assert!(grant["unionid"].as_str().unwrap().starts_with("un_sim_"));
    assert_eq!(grant["expires_in"], 7200);
    assert!(grant.get("is_snapshotuser").is_none());

    // "Returning" is now the person who just came as new.
    let again = link(&page, "data-user=\"returning\"");
    let (_, location, _) = get(&format!("{}{again}", sim.api_base())).await;
    let code = param(&location.unwrap(), "code").unwrap();
    let second = exchange(&sim, OA_APP_ID, OA_SECRET, &code).await;
    assert_eq!(second["openid"], grant["openid"]);

    let deny = link(&page, "data-action=\"deny\"");
    let (status, location, _) = get(&format!("{}{deny}", sim.api_base())).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert_eq!(location, format!("{BACK}?state=0123abcd"));
}

#[tokio::test]
async fn a_redirect_uri_with_a_query_keeps_it() {
    let sim = sim().await;
    let mut params = authorize(OA_APP_ID, "snsapi_base");
    params[1].1 = format!("{BACK}?x=1");
    let (_, _, page) = get(&page_url(&sim, "oauth2/authorize", &pairs(&params))).await;
    let deny = link(&page, "data-action=\"deny\"");
    let (_, location, _) = get(&format!("{}{deny}", sim.api_base())).await;
    assert_eq!(location.unwrap(), format!("{BACK}?x=1&state=0123abcd"));
}

#[tokio::test]
async fn the_pages_check_their_parameters_as_wechat_does() {
    let sim = sim().await;
    sim.set_oauth_domain(Some("app.example.com"));
    let cases: Vec<(&str, Query, &str)> = vec![
        ("oauth2/authorize", authorize("", "snsapi_base"), "10012"),
        (
            "oauth2/authorize",
            authorize(WEB_APP_ID, "snsapi_base"),
            "10016",
        ),
        (
            "oauth2/authorize",
            authorize("wx_other", "snsapi_base"),
            "40013",
        ),
        ("oauth2/authorize", authorize(OA_APP_ID, ""), "10010"),
        (
            "oauth2/authorize",
            authorize(OA_APP_ID, "snsapi_login"),
            "10005",
        ),
        ("qrconnect", authorize(OA_APP_ID, "snsapi_login"), "10005"),
        ("qrconnect", authorize(WEB_APP_ID, "snsapi_base"), "10005"),
        (
            "oauth2/authorize",
            {
                let mut p = authorize(OA_APP_ID, "snsapi_base");
                p[1].1 = "https://evil.example/cb".into();
                p
            },
            "10003",
        ),
        (
            "oauth2/authorize",
            {
                let mut p = authorize(OA_APP_ID, "snsapi_base");
                p[4].1 = "has-dash".into();
                p
            },
            "10013",
        ),
        (
            "oauth2/authorize",
            {
                let mut p = authorize(OA_APP_ID, "snsapi_base");
                p[1].1 = String::new();
                p
            },
            "10011",
        ),
    ];
    for (page, params, code) in cases {
        let (status, location, body) = get(&page_url(&sim, page, &pairs(&params))).await;
        assert_eq!((status, location), (200, None), "{page} {params:?}");
        assert!(
            body.contains(&format!("错误码：{code}")),
            "{page} {params:?}: {body}"
        );
    }
    // The configured domain passes, on any port.
    let (_, _, body) = get(&page_url(
        &sim,
        "oauth2/authorize",
        &pairs(&authorize(OA_APP_ID, "snsapi_base")),
    ))
    .await;
    assert!(body.contains("授权登录"), "{body}");
}

#[tokio::test]
async fn qrconnect_scans_give_the_website_apps_own_openid_and_the_same_unionid() {
    let sim = sim().await;
    sim.set_oauth_returning_user(&user());
    let params = authorize(WEB_APP_ID, "snsapi_login");
    let (_, _, page) = get(&page_url(&sim, "qrconnect", &pairs(&params))).await;
    assert!(page.contains("微信登录") && page.contains("data:image/svg+xml;base64,"));
    let scan = link(&page, "data-user=\"returning\"");
    let (status, location, _) = get(&format!("{}{scan}", sim.api_base())).await;
    assert_eq!(status, 302);
    let code = param(&location.unwrap(), "code").unwrap();
    // The Official Account's credentials cannot redeem the website's code...
    let wrong = exchange(&sim, OA_APP_ID, OA_SECRET, &code).await;
    assert_eq!(wrong["errcode"], 40029);
    // ...which stays good for its own app.
    let grant = exchange(&sim, WEB_APP_ID, WEB_SECRET, &code).await;
    assert_eq!(grant["openid"], sim.website_openid(&user()));
    assert_ne!(grant["openid"], "o_person");
    assert_eq!(grant["unionid"], "un_person");
    assert_eq!(grant["scope"], "snsapi_login");
}

#[tokio::test]
async fn codes_are_single_use_and_base_grants_carry_no_unionid() {
    let sim = sim().await;
    let code = sim.oauth_code(OA_APP_ID, &user(), "snsapi_base");
    let grant = exchange(&sim, OA_APP_ID, OA_SECRET, &code).await;
    assert_eq!(grant["openid"], "o_person", "the account's own openid");
    assert!(grant.get("unionid").is_none(), "{grant}");
    assert_eq!(
        exchange(&sim, OA_APP_ID, OA_SECRET, &code).await["errcode"],
        40163
    );
    assert_eq!(
        exchange(&sim, OA_APP_ID, OA_SECRET, "made-up").await["errcode"],
        40029
    );
    assert_eq!(
        exchange(&sim, OA_APP_ID, "wrong-secret", "x").await["errcode"],
        40125
    );
    // userinfo answers for userinfo grants only.
    let token = grant["access_token"].as_str().unwrap();
    let info = |token: &str, openid: &str| {
        format!(
            "{}/sns/userinfo?access_token={token}&openid={openid}&lang=zh_CN",
            sim.api_base()
        )
    };
    let (_, _, body) = get(&info(token, "o_person")).await;
    assert!(body.contains("\"errcode\":48001"), "{body}");
    let code = sim.oauth_code(OA_APP_ID, &user(), "snsapi_userinfo");
    let grant = exchange(&sim, OA_APP_ID, OA_SECRET, &code).await;
    let token = grant["access_token"].as_str().unwrap();
    let (_, _, body) = get(&info(token, "o_person")).await;
    let profile: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["unionid"], "un_person");
    assert_eq!(profile["nickname"], "微信用户");
    let (_, _, body) = get(&info(token, "o_someone_else")).await;
    assert!(body.contains("\"errcode\":40003"), "{body}");
    let (_, _, body) = get(&info("unknown", "o_person")).await;
    assert!(body.contains("\"errcode\":40001"), "{body}");
    assert_eq!(sim.oauth_calls(), (5, 4));
}

#[tokio::test]
async fn snapshot_mode_grants_virtual_accounts() {
    let sim = sim().await;
    sim.set_oauth_snapshot(true);
    let code = sim.oauth_code(OA_APP_ID, &user(), "snsapi_userinfo");
    let grant = exchange(&sim, OA_APP_ID, OA_SECRET, &code).await;
    assert_eq!(grant["is_snapshotuser"], 1);
    assert_ne!(grant["openid"], "o_person");
}
