//! The menu: its JSON, its local validation, and `menu/create` / `get_current_selfmenu_info`
//! against the simulator over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::wechat::client::ApiConfig;
use crate::wechat_sim::{SimApi, SimConfig, SimHandle, Simulator};

/// The request example of WeChat's "create a custom menu" documentation
/// (developers.weixin.qq.com, createCustomMenu), minified, in its field order.
const DOCUMENTED: &str = r#"{"button":[{"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/"},{"type":"miniprogram","name":"wxa","url":"http://mp.weixin.qq.com","appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index"},{"type":"click","name":"赞一下我们","key":"V1001_GOOD"}]}]}"#;

fn documented() -> Menu {
    serde_json::from_str(DOCUMENTED).unwrap()
}

fn leaf(kind: &str, name: &str) -> Button {
    Button {
        kind: Some(kind.into()),
        name: name.into(),
        ..Button::default()
    }
}

fn click(name: &str, key: &str) -> Button {
    Button {
        key: Some(key.into()),
        ..leaf("click", name)
    }
}

#[test]
fn documented_menu_round_trips_byte_for_byte() {
    let menu = documented();
    assert_eq!(menu.button.len(), 2);
    assert_eq!(menu.button[0], click("今日歌曲", "V1001_TODAY_MUSIC"));
    let mp = &menu.button[1].sub_button[1];
    assert_eq!(mp.kind.as_deref(), Some("miniprogram"));
    assert_eq!(mp.appid.as_deref(), Some("wx286b93c14bbf93aa"));
    assert_eq!(mp.pagepath.as_deref(), Some("pages/lunar/index"));
    assert_eq!(menu.button[1].kind, None);
    assert_eq!(menu.validate(), Ok(()));
    // Same fields, same order, non-ASCII unescaped (§1: WeChat wants raw UTF-8).
    assert_eq!(serde_json::to_string(&menu).unwrap(), DOCUMENTED);
}

#[test]
fn every_button_type_is_written_with_its_fields() {
    let menu = Menu {
        button: vec![
            Button {
                media_id: Some("MEDIA_ID1".into()),
                ..leaf("media_id", "图片")
            },
            Button {
                article_id: Some("ARTICLE_ID1".into()),
                ..leaf("article_view_limited", "文章")
            },
            Button {
                name: "扫码".into(),
                sub_button: vec![
                    click("推", "rselfmenu_0_1"),
                    Button {
                        key: Some("rselfmenu_2_0".into()),
                        ..leaf("location_select", "发送位置")
                    },
                ],
                ..Button::default()
            },
        ],
    };
    assert_eq!(menu.validate(), Ok(()));
    let json = serde_json::to_string(&menu).unwrap();
    assert_eq!(
        json,
        r#"{"button":[{"type":"media_id","name":"图片","media_id":"MEDIA_ID1"},{"type":"article_view_limited","name":"文章","article_id":"ARTICLE_ID1"},{"name":"扫码","sub_button":[{"type":"click","name":"推","key":"rselfmenu_0_1"},{"type":"location_select","name":"发送位置","key":"rselfmenu_2_0"}]}]}"#
    );
    assert_eq!(serde_json::from_str::<Menu>(&json).unwrap(), menu);
}

#[test]
fn misspelt_fields_are_refused_when_reading() {
    let e = serde_json::from_str::<Menu>(
        r#"{"button":[{"type":"miniprogram","name":"a","pagePath":"x"}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("pagePath"), "{e}");
}

#[test]
fn validation_reports_every_problem_with_its_path() {
    let long_sub_name = "名".repeat(21); // 63 bytes
    let menu = Menu {
        button: vec![
            Button {
                name: "x".repeat(17),
                ..leaf("click", "")
            },
            Button {
                name: "菜单".into(),
                sub_button: vec![
                    Button {
                        url: Some("ftp://files.example.com/".into()),
                        ..leaf("view", &long_sub_name)
                    },
                    Button {
                        key: Some("k".into()),
                        ..leaf("clik", "a")
                    },
                    Button {
                        url: Some("https://a.example.com".into()),
                        ..leaf("miniprogram", "mp")
                    },
                    Button {
                        sub_button: vec![click("deep", "k")],
                        ..click("nested", "k")
                    },
                    click("k", &"k".repeat(129)),
                    Button {
                        url: Some(format!("https://{}", "a".repeat(1017))),
                        ..leaf("view", "v")
                    },
                ],
                ..Button::default()
            },
            Button {
                name: "c".into(),
                ..Button::default()
            },
            leaf("view", ""),
        ],
    };
    assert_eq!(
        menu.validate().unwrap_err(),
        vec![
            "button: 4 buttons, at most 3",
            "button[0].name: 17 bytes, at most 16",
            "button[0].key: missing; a click button needs it",
            "button[1].sub_button: 6 sub-buttons, at most 5",
            "button[1].sub_button[0].name: 63 bytes, at most 60",
            "button[1].sub_button[0].url: must start with http:// or https://",
            "button[1].sub_button[1].type: unknown \"clik\", expected one of click, view, \
             miniprogram, scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album, \
             pic_weixin, location_select, media_id, view_limited, article_id, \
             article_view_limited",
            "button[1].sub_button[2].appid: missing; a miniprogram button needs it",
            "button[1].sub_button[2].pagepath: missing; a miniprogram button needs it",
            "button[1].sub_button[3].sub_button: a menu has two levels; a sub-button cannot \
             have sub-buttons",
            "button[1].sub_button[4].key: 129 bytes, at most 128",
            "button[1].sub_button[5].url: 1025 bytes, at most 1024",
            "button[2].type: missing; give the button a type or sub-buttons",
            "button[3].name: missing",
            "button[3].url: missing; a view button needs it",
        ]
    );
}

#[test]
fn limits_are_inclusive_and_counted_in_bytes() {
    // 5 Chinese characters are 15 bytes: allowed on top; 6 are 18: refused.
    let mut menu = Menu {
        button: vec![click("五个汉字字", "k")],
    };
    assert_eq!(menu.validate(), Ok(()));
    menu.button[0].name = "六个汉字字字".into();
    assert_eq!(
        menu.validate().unwrap_err(),
        vec!["button[0].name: 18 bytes, at most 16"]
    );
    let exact = Menu {
        button: vec![
            click(&"n".repeat(16), &"k".repeat(128)),
            Button {
                url: Some(format!("HTTPS://{}", "a".repeat(1016))),
                ..leaf("view", "v")
            },
            Button {
                name: "s".into(),
                sub_button: (0..5).map(|_| click(&"字".repeat(20), "k")).collect(),
                ..Button::default()
            },
        ],
    };
    assert_eq!(exact.validate(), Ok(()));
    assert_eq!(
        Menu::default().validate().unwrap_err(),
        vec!["button: empty, at least 1 button"]
    );
    let no_host = Menu {
        button: vec![Button {
            url: Some("https://".into()),
            ..leaf("view", "v")
        }],
    };
    assert_eq!(
        no_host.validate().unwrap_err(),
        vec!["button[0].url: must start with http:// or https://"]
    );
}

// --- Against the simulator.

const APP_ID: &str = "wx_menu_app";
const SECRET: &str = "menu-secret";

async fn sim() -> SimHandle {
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap()
}

fn client(sim: &SimHandle) -> WechatClient {
    WechatClient::new(ApiConfig {
        api_base: sim.api_base(),
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

#[tokio::test]
async fn create_then_read_the_menu_over_http() {
    let sim = sim().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observer_seen = seen.clone();
    let client = client(&sim).with_observer(Arc::new(move |api: Api, outcome| {
        observer_seen
            .lock()
            .unwrap()
            .push((api.label(), outcome.is_ok()));
    }));

    assert_eq!(
        client.current_menu().await.unwrap(),
        serde_json::json!({"is_menu_open": 0})
    );
    client.create_menu(&documented()).await.unwrap();
    assert_eq!(
        sim.menu().unwrap(),
        serde_json::from_str::<Value>(DOCUMENTED).unwrap()["button"]
    );
    let current = client.current_menu().await.unwrap();
    assert_eq!(
        current,
        serde_json::json!({
            "is_menu_open": 1,
            "selfmenu_info": {"button": [
                {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
                {"name": "菜单", "sub_button": {"list": [
                    {"type": "view", "name": "搜索", "url": "http://www.soso.com/"},
                    {"type": "miniprogram", "name": "wxa", "url": "http://mp.weixin.qq.com",
                     "appid": "wx286b93c14bbf93aa", "pagepath": "pages/lunar/index"},
                    {"type": "click", "name": "赞一下我们", "key": "V1001_GOOD"}
                ]}}
            ]}
        })
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("stable_token", true),
            ("menu_get", true),
            ("menu_create", true),
            ("menu_get", true)
        ]
    );
    assert_eq!(sim.counters().menu_creates, 1);
    assert_eq!(sim.counters().menu_gets, 2);
}

#[tokio::test]
async fn a_menu_wechat_would_refuse_is_refused_before_sending() {
    let sim = sim().await;
    let client = client(&sim);
    let four = Menu {
        button: (0..4).map(|i| click("b", &format!("K{i}"))).collect(),
    };
    assert_eq!(
        client.create_menu(&four).await.unwrap_err(),
        Error::InvalidMenu(vec!["button: 4 buttons, at most 3".into()])
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.menu_creates, counters.stable_token_calls),
        (0, 0),
        "nothing was sent, not even a token request"
    );

    // WeChat (here the simulator) refuses the same body with 40016.
    let token = client.access_token().await.unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/cgi-bin/menu/create?access_token={}",
            sim.api_base(),
            token.expose()
        ))
        .json(&four)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errcode"], 40016);
    assert_eq!(sim.menu(), None);
}

#[tokio::test]
async fn wechat_refusals_come_back_typed_and_explained() {
    let sim = sim().await;
    let client = client(&sim);
    sim.fail_next(SimApi::MenuCreate, 48001);
    let e = client.create_menu(&documented()).await.unwrap_err();
    assert_eq!(e.errcode(), Some(48001));
    assert!(e.explanation().unwrap().contains("not allowed"), "{e}");
    sim.fail_next(SimApi::MenuGet, 45009);
    assert_eq!(
        client.current_menu().await.unwrap_err().errcode(),
        Some(45009)
    );

    // A revoked token is refetched once, as for every call.
    client.create_menu(&documented()).await.unwrap();
    sim.revoke_access_tokens();
    client.create_menu(&documented()).await.unwrap();
    assert_eq!(sim.counters().stable_token_calls, 2);
}

#[test]
fn invalid_menu_error_lists_the_problems() {
    let e = Error::InvalidMenu(vec!["a: x".into(), "b: y".into()]);
    assert_eq!(e.to_string(), "menu refused before sending: a: x; b: y");
    assert_eq!(e.label(), "invalid_argument");
    assert_eq!(e.errcode(), None);
}

/// The CLI and the gateway run these on a multi-threaded runtime (a compile-time check).
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    async fn all(client: WechatClient, menu: Menu) {
        send(&client.create_menu(&menu));
        send(&client.current_menu());
        send(&client.check());
    }
    let _ = all;
}
