//! Stages 1 to 3: syntax, shape repair and `${VAR}`, seen through the whole loader.

use crate::config::env::MapEnv;
use crate::config::model::AuthPolicy;
use crate::config::testing::{errors, load_with, ok, raw_errors};

#[test]
fn a_syntax_error_is_one_issue_with_line_and_column() {
    assert_eq!(
        raw_errors("listen: \"0.0.0.0:80\"\nroutes: [\n"),
        ["invalid YAML at line 3, column 1: did not find expected node content, while parsing a flow node"]
    );
}

#[test]
fn a_number_too_large_to_parse_is_not_echoed() {
    assert_eq!(
        raw_errors("session: {secret: 98765432109876543210987654321098765}\n"),
        ["invalid YAML at line 1, column 19: a number too large for an integer (put it in quotes)"]
    );
}

#[test]
fn an_empty_file_reports_each_required_key() {
    assert_eq!(
        raw_errors("# nothing yet\n"),
        [
            "public_url: is required: the URL browsers and WeChat use to reach the gateway",
            "session.secret: is required (or secret_file)",
            "login.methods[0]: official_account needs a wechat.official_account section (or wechat.simulate: true)",
            "routes: at least one route is required",
        ]
    );
}

#[test]
fn a_document_that_is_not_a_mapping_is_one_issue() {
    assert_eq!(
        raw_errors("- listen\n- routes\n"),
        ["the file must be a mapping of the keys in conf/scangate.example.yaml"]
    );
}

#[test]
fn unknown_keys_are_reported_at_every_level_all_at_once() {
    let got = errors(
        "{colour: red, session: {secrit: x}, routes: [{name: a, upstreams: ['127.0.0.1:1']}, {name: b, upstream: x}]}",
    );
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(
        got[0]
            .starts_with("session.secrit: unknown key, expected one of `secret`, `secret_file`, "),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with("routes[1].upstream: unknown key, expected one of `name`"),
        "{got:#?}"
    );
    assert!(
        got[2].starts_with("colour: unknown key, expected one of `listen`, `public_url`"),
        "{got:#?}"
    );
    // The route lost its (misspelled) upstreams; that is reported too.
    assert_eq!(
        got[3],
        "routes[1].upstreams: at least one upstream is required"
    );
}

#[test]
fn type_errors_carry_paths_and_never_echo_the_value() {
    assert_eq!(
        errors("{threads: many, session: {secret: 12345678901234567890}}"),
        [
            "session.secret: expected a string, found a number (put it in quotes)",
            "threads: expected a whole number, found a string",
        ]
    );
}

#[test]
fn a_bad_list_element_does_not_shift_the_indices_after_it() {
    assert_eq!(
        errors("routes: [5, {name: b, upstreams: [1, abc]}]"),
        [
            "routes[0]: expected a mapping, found a number",
            "routes[1].upstreams[0]: expected a string, found a number (put it in quotes)",
            "routes[1].upstreams[1]: \"abc\" is not host:port",
        ]
    );
}

#[test]
fn an_unknown_enum_value_names_the_choices() {
    assert_eq!(
        errors("store: {backend: postgres}"),
        ["store.backend: unknown variant `postgres`, expected `embedded` or `redis`"]
    );
}

#[test]
fn non_string_keys_are_refused_not_read_as_field_numbers() {
    assert_eq!(errors("{0: '1.2.3.4:80'}"), ["key 0 is not a string"]);
}

#[test]
fn merge_keys_let_routes_share_settings() {
    let config = ok("{routes: [{name: a, upstreams: ['127.0.0.1:1'], auth: public}, {<<: {auth: public, upstreams: ['127.0.0.1:2']}, name: b}]}");
    assert_eq!(config.routes[1].auth, AuthPolicy::Public);
}

#[test]
fn env_variables_are_substituted_in_any_string() {
    let env = MapEnv::new()
        .var("PORT", "9000")
        .var("SECRET", "x".repeat(40));
    let config = load_with(
        "{listen: '127.0.0.1:${PORT}', session: {secret: '${SECRET}'}}",
        &env,
    )
    .unwrap();
    assert_eq!(config.listen.port(), 9000);
    assert_eq!(config.session.secret.expose(), "x".repeat(40));
}

#[test]
fn an_unset_variable_is_an_error_at_its_key_and_hides_follow_ups() {
    // Without the variable the literal `${...}` would also be "too short": not repeated.
    assert_eq!(
        errors("session: {secret: '${SCANGATE_SESSION_SECRET}'}"),
        ["session.secret: environment variable SCANGATE_SESSION_SECRET is not set"]
    );
}

#[test]
fn double_dollar_is_a_literal_dollar() {
    let config = ok("session: {secret: 'abcdefghijabcdefghijabcdefghij$$$$'}");
    assert_eq!(
        config.session.secret.expose(),
        "abcdefghijabcdefghijabcdefghij$$"
    );
}
