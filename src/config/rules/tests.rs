//! What every section shares: secrets and their `_file` twins, defaults, problems of all
//! sections reported together.

use std::net::{Ipv4Addr, SocketAddr};

use crate::config::env::MapEnv;
use crate::config::model::*;
use crate::config::testing::{errors, load_with, messages, ok, SECRETS};
use crate::identity::LoginMethod;

#[test]
fn the_base_file_is_valid() {
    ok("{}");
}

#[test]
fn a_file_secret_is_read_and_trimmed() {
    let env = MapEnv::new().file("/run/secrets/session", format!("{}\n", "k".repeat(32)));
    let config = load_with(
        "session: {secret: null, secret_file: /run/secrets/session}",
        &env,
    )
    .unwrap();
    assert_eq!(config.session.secret.expose(), "k".repeat(32));
}

#[test]
fn an_unreadable_secret_file_is_an_error_at_the_file_key() {
    assert_eq!(
        errors("session: {secret: null, secret_file: /run/missing}"),
        ["session.secret_file: cannot read \"/run/missing\": no such file"]
    );
}

#[test]
fn a_secret_and_its_file_together_are_an_error() {
    let env = MapEnv::new().file("/s", "y".repeat(32));
    assert_eq!(
        messages(load_with("session: {secret_file: /s}", &env)),
        ["session.secret: set either secret or secret_file, not both"]
    );
}

#[test]
fn every_secret_key_accepts_a_file() {
    let env = MapEnv::new()
        .file("/oa", "s3cret")
        .file("/tok", "tok123\n")
        .file("/aes", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
        .file("/mp", "mpsecret")
        .file("/redis", "redis://db:6379/0")
        .file("/sid", "id")
        .file("/skey", "key");
    let config = load_with(
        r#"
store: {backend: redis, url_file: /redis}
wechat:
  official_account: {app_secret: null, app_secret_file: /oa, token: null, token_file: /tok, encoding_aes_key_file: /aes}
  mini_program: {app_id: wx2, app_secret_file: /mp}
"#,
        &env,
    )
    .unwrap();
    let oa = config.wechat.official_account.unwrap();
    assert_eq!(oa.token.expose(), "tok123");
    assert!(oa.encoding_aes_key.is_some());
    assert_eq!(
        config.wechat.mini_program.unwrap().app_secret.expose(),
        "mpsecret"
    );
    assert!(
        matches!(config.store, StoreConfig::Redis { ref url, .. } if url.expose() == "redis://db:6379/0")
    );
    let c = load_with(
        r#"login: {sms: {provider: tencent, secret_id_file: /sid, secret_key_file: /skey, sdk_app_id: "1400", sign_name: S, template_id: "1"}}"#,
        &env,
    )
    .unwrap();
    assert!(
        matches!(c.login.sms, SmsConfig::Tencent(ref t) if t.secret_id.expose() == "id" && t.secret_key.expose() == "key")
    );
}

#[test]
fn defaults_fill_every_optional_key() {
    let c = ok("{}");
    assert_eq!(c.listen, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)));
    assert_eq!(c.auth_path, "/.auth");
    assert_eq!(c.admin_listen, None);
    assert!(c.trusted_proxies.is_empty() && c.tls.is_none());
    assert_eq!((c.threads, c.shutdown_timeout_seconds), (1, 5));
    assert!(c.drop_underscore_headers);
    assert_eq!(
        c.store,
        StoreConfig::Embedded {
            path: "data/scangate.db".into()
        }
    );
    assert_eq!(c.session.cookie_name, "scangate_session");
    assert_eq!(
        (c.session.ttl_seconds, c.session.idle_timeout_seconds),
        (604_800, None)
    );
    assert_eq!(
        c.identity_headers.all(),
        [
            "X-Auth-User-Id",
            "X-Auth-Openid",
            "X-Auth-Unionid",
            "X-Auth-Phone",
            "X-Auth-Method",
            "X-Auth-Assertion"
        ]
    );
    assert_eq!(c.wechat.api_base, "https://api.weixin.qq.com");
    assert!(!c.wechat.simulate);
    let oa = c.wechat.official_account.unwrap();
    assert_eq!(
        (oa.qr_expire_seconds, oa.scan_replies.confirmed.as_str()),
        (300, "登录成功")
    );
    assert_eq!(c.login.methods, [LoginMethod::OfficialAccount]);
    assert_eq!(
        (c.login.phone, c.login.code_ttl_seconds),
        (PhonePolicy::Required, 300)
    );
    assert!(matches!(c.login.sms, SmsConfig::Log));
    let r = &c.routes[0];
    assert_eq!(
        (r.host.as_ref(), r.path_prefix.as_str(), r.auth),
        (None, "/", AuthPolicy::Login)
    );
    assert_eq!((r.connect_timeout_seconds, r.read_timeout_seconds), (5, 60));
}

#[test]
fn problems_in_every_section_are_reported_together() {
    let got = errors("{listen: x, session: {ttl_seconds: 0}, login: {code_ttl_seconds: 1}, routes: [{name: a, upstreams: [abc]}]}");
    assert_eq!(
        got,
        [
            "listen: \"x\" is not an ip:port address",
            "session.ttl_seconds: must be greater than 0",
            "login.code_ttl_seconds: must be between 60 and 3600 seconds",
            "routes[0].upstreams[0]: \"abc\" is not host:port",
        ]
    );
}

#[test]
fn secrets_do_not_show_in_the_config_debug_output() {
    let c = ok("store: {backend: redis, url: 'redis://:hunter2@db'}");
    let shown = format!("{c:?}");
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} in Debug");
    }
}
