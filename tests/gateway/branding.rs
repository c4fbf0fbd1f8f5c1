//! Branded login (issue 20): the site's logo in the middle of every login code, and its name
//! in the page's and the widget's heading. Every branded Official Account code served is read
//! back by a QR decoder (rqrr) and must say what the attempt's `qr_content` says.

use scangate::branding::testing::{rasterize_qr_svg, sample_png_logo, sample_svg_logo};
use serde_json::json;

use crate::browser::Browser;
use crate::harness::*;

/// A gateway whose login codes carry `logo` (a file `name`, read as `scangate run` reads
/// it: the test harness's environment holds no files, so the file is loaded the same way
/// here and put in the parsed config), and the file's directory.
async fn branded(name: &str, logo: &[u8], methods: &str) -> (Echo, Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, logo).unwrap();
    let yaml = format!(
        "public_url: \"https://app.example.com\"\nsession: {{secret: \"0123456789abcdef0123456789abcdef\"}}\n\
         wechat: {{simulate: true}}\nlogin: {{site_name: \"Acme 商城\", qr_logo: \"{}\"}}\n\
         routes: [{{name: app, upstreams: [\"127.0.0.1:9\"]}}]\n",
        path.display()
    );
    let read = scangate::config::from_yaml(&yaml, &scangate::config::ProcessEnv).unwrap();
    let e = Echo::start("app").await;
    let extra = format!(
        "login:\n  methods: [{methods}]\nroutes:\n{}",
        login_routes(e.addr)
    );
    let gw = Gateway::start_with(&extra, |c| {
        c.login.site_name = read.login.site_name.clone();
        c.login.qr_logo = read.login.qr_logo.clone();
    })
    .await;
    (e, gw, dir)
}

fn decode(svg: &str) -> Vec<String> {
    let (size, grey) = rasterize_qr_svg(svg, 2).expect("an SVG the gateway drew");
    let size = size as usize;
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(size, size, |x, y| grey[y * size + x]);
    img.detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

#[tokio::test]
async fn every_branded_official_account_code_reads_as_its_content() {
    let logos: [(&str, Vec<u8>); 4] = [
        ("small.png", sample_png_logo(24, 24)),
        ("large.png", sample_png_logo(800, 800)),
        ("wide.png", sample_png_logo(640, 160)),
        ("logo.svg", sample_svg_logo(120, 120)),
    ];
    for (name, logo) in logos {
        let (_e, gw, _dir) = branded(name, &logo, "official_account").await;
        let browser = Browser::new(&gw);
        // Several attempts: each has its own content (and so its own symbol).
        for _ in 0..3 {
            let started = browser
                .post(
                    "/.auth/qr",
                    json!({"method": "official_account", "rd": "/"}),
                )
                .await;
            assert_eq!(started.status, 201, "{}", started.body);
            let id = started.body["id"].as_str().unwrap();
            let content = started.body["qr_content"].as_str().unwrap();
            let svg = browser.get(&format!("/.auth/qr/{id}.svg")).await;
            assert_eq!(svg.status, 200);
            assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
            let svg = svg.body.as_str().unwrap();
            assert!(svg.contains("<image"), "{name}: the logo is drawn");
            assert_eq!(decode(svg), [content], "{name}");
        }
    }
}

#[tokio::test]
async fn the_mini_program_code_keeps_its_size_and_format_with_the_logo_over_its_centre() {
    let (_e, gw, _dir) = branded(
        "logo.png",
        &sample_png_logo(200, 200),
        "mini_program, official_account",
    )
    .await;
    let browser = Browser::new(&gw);
    let started = browser
        .post("/.auth/qr", json!({"method": "mini_program", "rd": "/"}))
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.body["id"].as_str().unwrap();
    let resp = gw
        .get(&format!("/.auth/qr/{id}.png"))
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let bytes = resp.bytes().await.unwrap();
    // Served twice, the same image (composited once, kept with the attempt).
    let again = gw
        .get(&format!("/.auth/qr/{id}.png"))
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes, again);

    let mut reader = png::Decoder::new(&bytes[..]).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    // The simulator draws WeChat's default 430 px.
    assert_eq!((frame.width, frame.height), (430, 430));
    let channels = frame.color_type.samples();
    let at = |x: usize, y: usize| {
        let i = (y * 430 + x) * channels;
        (
            buf[i],
            buf[i + channels.min(2)],
            buf[i + channels.min(3) - 1],
        )
    };
    // The white square's margin around the logo: white all round the centre.
    for d in [-58i32, 58] {
        for t in [-40i32, 0, 40] {
            let (x, y) = ((215 + d) as usize, (215 + t) as usize);
            assert_eq!(at(x, y), (255, 255, 255), "margin at {x},{y}");
            assert_eq!(at(y, x), (255, 255, 255), "margin at {y},{x}");
        }
    }
    // The logo's blue in the middle.
    let (r, _, b) = at(215 - 20, 215 - 20);
    assert!(
        b > 150 && r < 100 || r > 200 && b < 100,
        "logo colours, got {r} {b}"
    );
}

#[tokio::test]
async fn the_site_is_named_in_the_page_and_the_widget_in_both_languages() {
    let (_e, gw, _dir) = branded("logo.svg", &sample_svg_logo(10, 10), "official_account").await;
    for (lang, heading) in [
        ("en", "<h1>Sign in to Acme 商城</h1>"),
        ("zh-CN", "<h1>登录 Acme 商城</h1>"),
    ] {
        let html = gw
            .browser_get("/.auth/login")
            .header("accept-language", lang)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(heading), "{lang}: {html}");
    }
    let js = gw
        .get("/.auth/sdk.js")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains(r#"const SITE = "Acme 商城";"#));
    assert!(
        js.contains(r#"siteTitle: "Sign in to {site}""#)
            && js.contains(r#"siteTitle: "登录 {site}""#)
    );

    // Without site_name, the page names the host it was asked for.
    let (_e, plain) = login_gateway("").await;
    let html = plain
        .browser_get("/.auth/login")
        .header("host", "shop.example.com")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<h1>Sign in to shop.example.com</h1>"),
        "{html}"
    );
}
