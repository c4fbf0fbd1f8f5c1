//! `scangate sms test`, run as the binary against the fake Tencent Cloud API over real HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use scangate::sms::fake::{FakeProvider, Script};

use crate::harness::*;

const SECRET_ID: &str = "AKIDcli000000000000000000000000000000";
const SECRET_KEY: &str = "cli-test-secret-key";

/// A valid config whose `login.sms` is `sms` (YAML lines at the `sms:` level).
fn config(dir: &Path, sms: &str) -> PathBuf {
    let file = dir.join("scangate.yaml");
    std::fs::write(
        &file,
        format!(
            "public_url: \"https://app.example.com\"\nstore:\n  path: \"{}/s.db\"\nsession:\n  secret: \"{SECRET}\"\nwechat:\n  simulate: true\nlogin:\n  sms:\n{sms}routes:\n  - name: app\n    upstreams: [\"127.0.0.1:9\"]\n",
            dir.display()
        ),
    )
    .unwrap();
    file
}

fn tencent(endpoint: &str) -> String {
    format!(
        "    provider: tencent\n    secret_id: \"{SECRET_ID}\"\n    secret_key: \"{SECRET_KEY}\"\n    sdk_app_id: \"1400000001\"\n    sign_name: \"示例\"\n    template_id: \"2000001\"\n    endpoint: \"{endpoint}\"\n"
    )
}

/// Runs `scangate sms test` off the test's runtime threads (the fake answers on them).
async fn sms_test(file: &Path, phone: &str) -> (Option<i32>, String, String) {
    let args = [
        "sms".to_string(),
        "test".into(),
        "--config".into(),
        file.display().to_string(),
        "--phone".into(),
        phone.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_scangate"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_test_sends_one_code_and_says_what_the_provider_answered() {
    let fake = FakeProvider::tencent(SECRET_ID, SECRET_KEY).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), &tencent(&fake.endpoint()));

    let (code, stdout, stderr) = sms_test(&file, "13800138090").await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("result:   sent"), "{stdout}");
    assert!(stdout.contains("request fake-request-1"), "{stdout}");
    assert!(stdout.contains("+86138****8090"), "{stdout}");
    let [r] = &fake.received()[..] else {
        panic!("one request expected");
    };
    assert_eq!(r.signature, Ok(()));
    assert_eq!(r.phone, "+8613800138090");
    let sent = r.param("1").unwrap();
    assert!(
        sent.len() == 6 && sent.bytes().all(|b| b.is_ascii_digit()),
        "{sent}"
    );
    // Neither the code nor the key is printed (the log goes to stderr).
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains(sent) && !all.contains(SECRET_KEY), "{all}");

    fake.answer_with(Script::refuse("LimitExceeded.PhoneNumberDailyLimit"));
    let (code, stdout, _) = sms_test(&file, "13800138090").await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("refused: tencent refused the SMS: LimitExceeded.PhoneNumberDailyLimit"),
        "{stdout}"
    );
    assert!(
        stdout.contains("meaning:  the provider's own limit"),
        "{stdout}"
    );

    fake.answer_with(Script::RejectRequest {
        status: 200,
        code: "FailedOperation.SignatureIncorrectOrUnapproved".into(),
        message: "signature unapproved".into(),
    });
    let (code, stdout, _) = sms_test(&file, "13800138090").await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("meaning:  login.sms.sign_name"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_test_refuses_a_bad_number_or_config_with_64_and_an_unreachable_provider_with_1() {
    let dir = tempfile::tempdir().unwrap();
    let (_socket, closed) = dead_address();
    let file = config(dir.path(), &tencent(&format!("http://{closed}")));

    let (code, _, stderr) = sms_test(&file, "12345").await;
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--phone: the phone number"), "{stderr}");
    // A number of a country login.phone_countries does not list: the gateway would refuse it.
    let (code, _, stderr) = sms_test(&file, "+1 415 555 0100").await;
    assert_eq!(code, Some(64), "{stderr}");

    let (code, stdout, _) = sms_test(&file, "13800138091").await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("result:   unreachable"), "{stdout}");

    let incomplete = config(dir.path(), "    provider: tencent\n    secret_id: x\n");
    let (code, _, stderr) = sms_test(&incomplete, "13800138091").await;
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("login.sms.sdk_app_id: is required for provider tencent"),
        "{stderr}"
    );
}
