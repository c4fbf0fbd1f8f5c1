//! `ScanGate.token(aud)` in a real browser (issue 20): after a login, a page of the app asks
//! the widget for a bearer token, gets one the gateway's JWKS verifies, the same one again
//! while it is fresh, and the gateway's refusal for an audience it does not issue.

use serde_json::{json, Value};

use crate::driver::{run, Opts, EN};
use crate::page::Page;
use crate::site::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_gets_a_cached_token_from_the_widget() {
    run(
        "a_page_gets_a_cached_token_from_the_widget",
        Opts::desktop(EN),
        |c| async move {
            let page = Page::new(c.clone());
            let site = Site::start("tokens:\n  audiences:\n    - name: api\n").await;
            page.goto(&site.url("/start")).await;
            page.wait_status("waiting").await;
            page.sign_up("13800138077").await;
            page.wait_path("/start").await;

            page.goto(&site.url("/embed")).await;
            page.wait("the widget", "!!window.ScanGate").await;
            let got = page
                .js(
                    "return Promise.all([ScanGate.token('api'), ScanGate.token('api')])\
                       .then(([a, b]) => ScanGate.token('api').then((c) => [a, b, c]));",
                    vec![],
                )
                .await;
            let tokens: Vec<&str> = got
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert!(tokens[0].split('.').count() == 3, "{got}");
            assert!(
                tokens.iter().all(|t| *t == tokens[0]),
                "cached while fresh: {got}"
            );

            // The token says who signed in, for the audience asked.
            let payload = tokens[0].split('.').nth(1).unwrap();
            use base64::Engine as _;
            let claims: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(claims["aud"], "api");
            assert_eq!(claims["phone"], "+8613800138077");
            assert_eq!(claims["iss"], site.gw().app().config.public_url.origin);

            let refused = page
                .js(
                    "return ScanGate.token('nope').then(() => null, (e) => e);",
                    vec![],
                )
                .await;
            assert_eq!(refused["error"], json!("unknown_audience"), "{refused}");
            // The widget on the page names the site in its heading.
            let heading = page.text(".sg-site").await;
            assert!(heading.starts_with("Sign in to "), "{heading}");
        },
    )
    .await;
}
