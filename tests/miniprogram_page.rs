//! `examples/miniprogram`'s page, run in Node with a stand-in for WeChat's `wx` and `Page`:
//! opened by a Mini Program code (the scene URL-encoded in its options), by a URL Link (the
//! link's query as its options) or restored without options (the launch options' query), it
//! tells the gateway the same scene. Skipped with one line when `node` is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const HARNESS: &str = r#"
const fs = require("fs");
const src = fs.readFileSync(process.argv[2], "utf8");
const cases = JSON.parse(process.argv[3]);
(async () => {
  const out = [];
  for (const c of cases) {
    let page = null;
    const posts = [];
    const wx = {
      request: (r) => { posts.push({ url: r.url, data: r.data }); r.success({ statusCode: 200, data: {} }); },
      login: (r) => r.success({ code: "js" }),
      getEnterOptionsSync: () => c.enter,
    };
    new Function("wx", "Page", src)(wx, (p) => { page = p; });
    page.setData = function (d) { this.data = Object.assign({}, this.data, d); };
    await page.onLoad(c.options);
    out.push({ posts, back: page.back, state: page.data.state });
  }
  console.log(JSON.stringify(out));
})();
"#;

#[test]
fn the_mini_program_page_reads_the_scene_from_a_code_a_link_and_the_launch_options() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node is not installed (apt-get install nodejs)");
        return;
    }
    let page = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/miniprogram/pages/login/index.js"
    );
    let scene = "AbC-dEf_gHiJkLmNoPqRsT";
    let cases = serde_json::json!([
        // A Mini Program code (scene value 1047): the scene URL-encoded.
        { "options": { "scene": scene }, "enter": { "scene": 1047, "query": { "scene": scene } } },
        // A URL Link (1194): the link's query `scene=...` as the options.
        { "options": { "scene": scene }, "enter": { "scene": 1194, "query": { "scene": scene } } },
        // Restored without options: the launch options' query.
        { "options": {}, "enter": { "scene": 1194, "query": { "scene": scene } } },
        // Nothing at all: no call, an error for the person.
        { "options": {}, "enter": { "scene": 1001, "query": {} } },
    ]);
    let harness = std::env::temp_dir().join(format!("sg-mp-page-{}.js", std::process::id()));
    std::fs::write(&harness, HARNESS).unwrap();
    let output = Command::new("node")
        .arg(&harness)
        .arg(page)
        .arg(cases.to_string())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&harness);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (i, back) in [(0, "电脑"), (1, "浏览器"), (2, "浏览器")] {
        let run = &runs[i];
        assert_eq!(run["posts"][0]["data"]["scene"], scene, "case {i}: {run}");
        assert!(run["posts"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/mp/scanned"));
        assert_eq!(run["back"], back, "case {i}");
        assert_eq!(run["state"], "confirm", "case {i}");
    }
    assert_eq!(runs[3]["posts"], serde_json::json!([]));
    assert_eq!(runs[3]["state"], "error");
}
