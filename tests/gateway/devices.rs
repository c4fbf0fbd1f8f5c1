//! Which device the hosted login page is for: decided from the User-Agent, overridable by
//! `?device=` in the demo only (its device switch).

use serde_json::Value;

use crate::harness::*;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const WECHAT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                      Gecko) Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560";
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/120.0 Safari/537.36";

/// The widget options the login page carries.
async fn page_config(gw: &Gateway, query: &str, user_agent: &str) -> Value {
    let page = gw
        .browser_get(&format!("/.auth/login?rd=%2F{query}"))
        .header("user-agent", user_agent)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let open = "<script type=\"application/json\" id=\"scangate-config\">";
    let start = html.find(open).unwrap() + open.len();
    let len = html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..start + len]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_the_login_page_names_the_device_of_the_user_agent() {
    let (_e, gw) =
        login_gateway("login:\n  methods: [official_account, mini_program, sms]\n").await;
    for (ua, device) in [(IPHONE, "phone"), (WECHAT, "wechat"), (DESKTOP, "desktop")] {
        let config = page_config(&gw, "", ua).await;
        assert_eq!(config["device"], device, "{ua}");
        assert_eq!(
            config["methods"],
            serde_json::json!(["official_account", "mini_program", "sms"])
        );
    }
    // The demo's switch: another device than the browser's.
    let config = page_config(&gw, "&device=phone", DESKTOP).await;
    assert_eq!(config["device"], "phone");
    let config = page_config(&gw, "&device=tablet", IPHONE).await;
    assert_eq!(config["device"], "phone", "an unknown name is ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_the_switch_is_honoured_only_in_the_demo() {
    let (_e, gw) = login_gateway(
        "wechat:\n  simulate: false\n  official_account: {app_id: wx1234567890abcdef, app_secret: s, token: tok}\n",
    )
    .await;
    let config = page_config(&gw, "&device=phone", DESKTOP).await;
    assert_eq!(config["device"], "desktop");
    let html = gw
        .browser_get("/.auth/login?rd=%2F")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("class=\"demo-devices\""));
}
