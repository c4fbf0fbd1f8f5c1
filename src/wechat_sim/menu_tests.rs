//! The simulated menu API byte for byte: WeChat's error codes for raw bodies, and the stored
//! menu in `get_current_selfmenu_info`'s shape.

use serde_json::Value;

use super::*;

const APP_ID: &str = "wx_sim_menu";
const SECRET: &str = "sim-menu-secret";

async fn sim_and_token() -> (SimHandle, String) {
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: "t".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/".into(),
    })
    .await
    .unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/cgi-bin/stable_token", sim.api_base()))
        .body(format!(
            r#"{{"grant_type":"client_credential","appid":"{APP_ID}","secret":"{SECRET}"}}"#
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap().to_owned();
    (sim, token)
}

async fn create(sim: &SimHandle, token: &str, body: &str) -> String {
    reqwest::Client::new()
        .post(format!(
            "{}/cgi-bin/menu/create?access_token={token}",
            sim.api_base()
        ))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn current(sim: &SimHandle, token: &str) -> String {
    reqwest::get(format!(
        "{}/cgi-bin/get_current_selfmenu_info?access_token={token}",
        sim.api_base()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
}

fn errcode(body: &str) -> i64 {
    serde_json::from_str::<Value>(body).unwrap()["errcode"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn menu_create_answers_with_wechats_codes() {
    let (sim, token) = sim_and_token().await;
    let click = r#"{"type":"click","name":"a","key":"k"}"#;
    // A menu of top-level `buttons`; a menu with one parent of `subs`.
    let top = |buttons: &str| format!(r#"{{"button":[{buttons}]}}"#);
    let sub = |subs: &str| top(&format!(r#"{{"name":"m","sub_button":[{subs}]}}"#));
    let named = |name: &str| format!(r#"{{"type":"click","name":"{name}","key":"k"}}"#);
    let cases: Vec<(String, i64)> = vec![
        ("{}".into(), 40016),
        (top(""), 40016),
        (top(&[click; 4].join(",")), 40016),
        (top(r#"{"name":"a"}"#), 40017),
        (top(r#"{"type":"clik","name":"a","key":"k"}"#), 40017),
        (top(&named(&"x".repeat(17))), 40018),
        (top(r#"{"type":"click","name":"a"}"#), 40019),
        (top(r#"{"type":"view","name":"a"}"#), 40020),
        (top(r#"{"type":"view","name":"a","url":"ftp://x"}"#), 40055),
        (sub(&[click; 6].join(",")), 40023),
        (sub(r#"{"name":"a","key":"k"}"#), 40024),
        (sub(&named(&"字".repeat(21))), 40025),
        (
            sub(&format!(
                r#"{{"type":"click","name":"a","key":"{}"}}"#,
                "k".repeat(129)
            )),
            40026,
        ),
        // The community-reported mistake: `key` where a view button needs `url`.
        (
            sub(r#"{"type":"view","name":"a","key":"https://x.cn"}"#),
            40027,
        ),
        (sub(r#"{"type":"view","name":"a","url":"https://"}"#), 40054),
        (
            top(r#"{"type":"miniprogram","name":"a","url":"https://x.cn","appid":"wx1"}"#),
            40165,
        ),
        (
            top(r#"{"type":"click","name":"\u4eca\u65e5","key":"k"}"#),
            40033,
        ),
        ("button=1".into(), 47001),
    ];
    for (body, expected) in cases {
        let answer = create(&sim, &token, &body).await;
        assert_eq!(errcode(&answer), expected, "{body} -> {answer}");
        let text = serde_json::from_str::<Value>(&answer).unwrap()["errmsg"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.starts_with(&format!("{} rid: ", errmsg(expected))),
            "{answer}"
        );
    }
    assert_eq!(sim.menu(), None, "nothing refused was kept");
    assert_eq!(
        errcode(&create(&sim, "forged", r#"{"button":[]}"#).await),
        40001
    );

    // An escaped backslash followed by "u" is text, not an escape.
    let ok = create(
        &sim,
        &token,
        r#"{"button":[{"type":"click","name":"a\\u00e9","key":"k"}]}"#,
    )
    .await;
    assert_eq!(ok, r#"{"errcode":0,"errmsg":"ok"}"#);
    assert_eq!(sim.counters().menu_creates, 20);
}

#[tokio::test]
async fn current_menu_in_wechats_shape() {
    let (sim, token) = sim_and_token().await;
    assert_eq!(current(&sim, &token).await, r#"{"is_menu_open":0}"#);
    let menu = r#"{"button":[{"type":"media_id","name":"图片","media_id":"M1"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/","key":"ignored"},{"type":"scancode_push","name":"扫码","key":"rselfmenu_0_1"}]},{"type":"article_id","name":"文章","article_id":"A1"}]}"#;
    assert_eq!(
        create(&sim, &token, menu).await,
        r#"{"errcode":0,"errmsg":"ok"}"#
    );
    assert_eq!(
        current(&sim, &token).await,
        r#"{"is_menu_open":1,"selfmenu_info":{"button":[{"type":"media_id","name":"图片","value":"M1"},{"name":"菜单","sub_button":{"list":[{"type":"view","name":"搜索","url":"http://www.soso.com/"},{"type":"scancode_push","name":"扫码","key":"rselfmenu_0_1"}]}},{"type":"article_id","name":"文章","article_id":"A1"}]}}"#
    );
    sim.fail_next(SimApi::MenuGet, -1);
    assert_eq!(errcode(&current(&sim, &token).await), -1);
    assert_eq!(sim.counters().menu_gets, 3);
}

#[tokio::test]
async fn credential_failures_on_demand() {
    let (sim, _) = sim_and_token().await;
    let token_request = |secret: &str| {
        reqwest::Client::new()
            .post(format!("{}/cgi-bin/stable_token", sim.api_base()))
            .body(format!(
                r#"{{"grant_type":"client_credential","appid":"{APP_ID}","secret":"{secret}"}}"#
            ))
            .send()
    };
    let code =
        |response: reqwest::Response| async move { errcode(&response.text().await.unwrap()) };
    assert_eq!(code(token_request("wrong").await.unwrap()).await, 40125);
    sim.set_ip_whitelisted(false);
    // Off the whitelist, even the right secret fails, and so does the classic token API.
    assert_eq!(code(token_request(SECRET).await.unwrap()).await, 40164);
    let classic = reqwest::get(format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret={SECRET}",
        sim.api_base()
    ))
    .await
    .unwrap();
    assert_eq!(code(classic).await, 40164);
    sim.set_ip_whitelisted(true);
    let ok = token_request(SECRET).await.unwrap().text().await.unwrap();
    assert!(ok.starts_with(r#"{"access_token":"#), "{ok}");
}
