use crate::config::env::MapEnv;
use crate::config::testing::{errors, load_with, messages, ok};

const TOKEN: &str = "hunter2-hunter2-hunter2-hunter2-hunter2";

#[test]
fn the_api_is_off_without_a_token() {
    assert_eq!(ok("{}").admin.api_token, None);
}

#[test]
fn a_token_turns_it_on_from_the_file_or_its_twin() {
    let c = ok(&format!(
        "{{admin_listen: '127.0.0.1:9100', admin: {{api_token: '{TOKEN}'}}}}"
    ));
    assert_eq!(c.admin.api_token.unwrap().expose(), TOKEN);
    let env = MapEnv::new().file("/run/token", format!("{TOKEN}\n"));
    let c = load_with(
        "{admin_listen: '127.0.0.1:9100', admin: {api_token_file: /run/token}}",
        &env,
    )
    .unwrap();
    assert_eq!(c.admin.api_token.unwrap().expose(), TOKEN);
}

#[test]
fn every_problem_is_reported_at_its_key() {
    assert_eq!(
        errors("admin: {api_token: 'hunter2'}"),
        [
            "admin.api_token: is shorter than 32 characters; use a long random token (openssl rand -hex 32)",
            "admin.api_token: the API is served on admin_listen only, which is not set",
        ]
    );
    assert_eq!(
        messages(load_with(
            &format!("{{admin_listen: '127.0.0.1:9100', admin: {{api_token: '{TOKEN}', api_token_file: /t}}}}"),
            &MapEnv::new()
        )),
        ["admin.api_token: set either api_token or api_token_file, not both"]
    );
    assert_eq!(
        errors("{admin_listen: '127.0.0.1:9100', admin: {api_token_file: /missing}}"),
        ["admin.api_token_file: cannot read \"/missing\": no such file"]
    );
    assert_eq!(
        errors("{admin_listen: '127.0.0.1:9100', admin: {api_tokn: x}}").len(),
        1,
        "unknown keys are refused"
    );
}
