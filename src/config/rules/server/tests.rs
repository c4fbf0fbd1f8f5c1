use crate::config::env::MapEnv;
use crate::config::model::{PublicUrl, TlsConfig};
use crate::config::testing::{errors, load_with, messages, ok, raw_errors, BASE};

#[test]
fn listen_must_be_an_ip_and_port() {
    assert_eq!(
        errors("listen: 'localhost:80'"),
        ["listen: \"localhost:80\" is not an ip:port address"]
    );
    assert_eq!(ok("listen: '[::1]:8443'").listen.port(), 8443);
}

#[test]
fn public_url_is_required() {
    let text = BASE.replace("public_url: \"https://app.example.com\"\n", "");
    assert_eq!(
        raw_errors(&text),
        ["public_url: is required: the URL browsers and WeChat use to reach the gateway"]
    );
}

#[test]
fn public_url_must_be_http_or_https() {
    assert_eq!(
        errors("public_url: 'ftp://x.example'"),
        ["public_url: must start with http:// or https://"]
    );
    assert_eq!(
        errors("public_url: 'app.example.com'"),
        ["public_url: is not an http:// or https:// URL"]
    );
}

#[test]
fn public_url_must_not_have_a_path_or_query() {
    assert_eq!(
        errors("public_url: 'https://a.example/app'"),
        ["public_url: must not have a path: the gateway serves whole hosts (put apps under routes)"]
    );
    assert_eq!(
        errors("public_url: 'https://a.example/?x=1'"),
        ["public_url: must not have a query or fragment"]
    );
}

#[test]
fn public_url_becomes_a_lowercase_origin_without_default_port() {
    let u = ok("public_url: 'HTTPS://App.Example.COM:443/'").public_url;
    assert_eq!(
        u,
        PublicUrl {
            origin: "https://app.example.com".into(),
            host: "app.example.com".into(),
            https: true
        }
    );
    let u = ok("public_url: 'http://127.0.0.1:8080'").public_url;
    assert_eq!(
        (u.origin.as_str(), u.host.as_str(), u.https),
        ("http://127.0.0.1:8080", "127.0.0.1", false)
    );
    // The origin is the session token's issuer, however the URL was spelt.
    let c = ok("public_url: 'HTTPS://App.Example.COM:443/'");
    assert_eq!(c.session.issuer, "https://app.example.com");
}

#[test]
fn public_url_host_must_be_valid() {
    assert_eq!(
        errors("public_url: 'https://[nothost]'"),
        ["public_url: has no valid host name"]
    );
    assert_eq!(
        ok("public_url: 'http://[::1]:8080'").public_url.origin,
        "http://[::1]:8080"
    );
    assert_eq!(
        errors("public_url: 'https://'"),
        ["public_url: has no valid host name"]
    );
    assert_eq!(
        errors("public_url: 'https://u:p@a.example'"),
        ["public_url: must not contain user:password@"]
    );
    assert_eq!(
        errors("public_url: 'https://a.example:99999'"),
        ["public_url: has a bad host:port"]
    );
}

#[test]
fn auth_path_shape_is_checked() {
    assert_eq!(
        errors("auth_path: /"),
        ["auth_path: must not be / (it would hide every app)"]
    );
    assert_eq!(
        errors("auth_path: auth"),
        ["auth_path: \"auth\" must start with /"]
    );
    assert_eq!(
        errors("auth_path: /auth/"),
        ["auth_path: \"/auth/\" must not end with /"]
    );
    assert_eq!(
        errors("auth_path: /a?b"),
        ["auth_path: \"/a?b\" must not contain ? or #"]
    );
    assert_eq!(
        errors("auth_path: /a/../b"),
        ["auth_path: \"/a/../b\" must not contain .."]
    );
    assert_eq!(ok("auth_path: /_gate").auth_path, "/_gate");
}

#[test]
fn admin_listen_is_optional_and_must_be_an_address() {
    assert_eq!(
        ok("admin_listen: '127.0.0.1:9100'")
            .admin_listen
            .map(|a| a.port()),
        Some(9100)
    );
    assert_eq!(
        errors("admin_listen: ':9100'"),
        ["admin_listen: \":9100\" is not an ip:port address"]
    );
    // Another address on the same port is fine; the same port on an overlapping one is not.
    assert!(
        ok("{listen: '127.0.0.1:9100', admin_listen: '127.0.0.2:9100'}")
            .admin_listen
            .is_some()
    );
    for (listen, admin) in [
        ("127.0.0.1:9100", "127.0.0.1:9100"),
        ("0.0.0.0:9100", "127.0.0.1:9100"),
        ("127.0.0.1:9100", "0.0.0.0:9100"),
    ] {
        assert_eq!(
            errors(&format!("{{listen: '{listen}', admin_listen: '{admin}'}}")),
            [format!("admin_listen: {admin} is the public listener's port too; give the admin listener a port of its own")],
        );
    }
}

#[test]
fn trusted_proxies_take_cidrs_and_bare_ips() {
    let c = ok("trusted_proxies: ['10.0.0.0/8', '192.168.1.7', '::1', '172.16.5.4/12']");
    let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["10.0.0.0/8", "192.168.1.7/32", "::1/128", "172.16.0.0/12"]
    );
    assert_eq!(
        errors("trusted_proxies: ['10.0.0.0/8', 'lb.internal']"),
        ["trusted_proxies[1]: \"lb.internal\" is not an IP address or CIDR"]
    );
}

#[test]
fn forward_auth_trusts_loopback_unless_told_otherwise() {
    let c = ok("forward_auth: {}");
    let shown: Vec<String> = c
        .forward_auth_trusted
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["127.0.0.0/8", "::1/128"]);
    let c = ok("forward_auth: {trusted: ['172.18.0.0/16']}");
    let shown: Vec<String> = c
        .forward_auth_trusted
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["172.18.0.0/16"]);
    assert_eq!(
        errors("forward_auth: {trusted: ['traefik']}"),
        ["forward_auth.trusted[0]: \"traefik\" is not an IP address or CIDR"]
    );
    assert_eq!(
        errors("forward_auth: {trusted_proxies: []}"),
        ["forward_auth.trusted_proxies: unknown key, expected `trusted`"]
    );
}

#[test]
fn tls_needs_both_files_and_they_must_exist() {
    assert_eq!(
        errors("tls: {cert_file: /c.pem}"),
        [
            "tls.cert_file: cannot read \"/c.pem\": no such file",
            "tls.key_file: is required"
        ]
    );
    let (cert, key) = tls_pair();
    let env = MapEnv::new().file("/c.pem", cert).file("/k.pem", key);
    let c = load_with("tls: {cert_file: /c.pem, key_file: /k.pem}", &env).unwrap();
    assert_eq!(
        c.tls,
        Some(TlsConfig {
            cert_file: "/c.pem".into(),
            key_file: "/k.pem".into()
        })
    );
}

/// A self-signed certificate and its key, in PEM.
fn tls_pair() -> (String, String) {
    let pair = rcgen::generate_simple_self_signed(vec!["app.example.com".to_string()]).unwrap();
    (pair.cert.pem(), pair.signing_key.serialize_pem())
}

#[test]
fn tls_files_must_hold_what_the_listener_loads_at_start() {
    let (cert, key) = tls_pair();
    let (_, other_key) = tls_pair();
    let env = MapEnv::new()
        .file("/c.pem", cert.as_str())
        .file("/k.pem", key.as_str())
        .file("/other-k.pem", other_key)
        .file("/empty.pem", "")
        .file("/swapped-c.pem", key.as_str())
        .file("/swapped-k.pem", cert.as_str())
        .file("/torn.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    let tls = |cert: &str, key: &str| {
        messages(load_with(
            &format!("tls: {{cert_file: {cert}, key_file: {key}}}"),
            &env,
        ))
    };
    assert_eq!(
        tls("/swapped-c.pem", "/swapped-k.pem"),
        [
            "tls.cert_file: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            "tls.key_file: holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        ]
    );
    assert_eq!(
        tls("/empty.pem", "/k.pem"),
        ["tls.cert_file: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"]
    );
    assert_eq!(
        tls("/torn.pem", "/k.pem"),
        ["tls.cert_file: is not a readable PEM file"]
    );
    assert_eq!(
        tls("/c.pem", "/other-k.pem"),
        ["tls.key_file: is not the private key of the first certificate in tls.cert_file"]
    );
}

#[test]
fn threads_and_shutdown_timeout_are_at_least_one() {
    assert_eq!(
        errors("{threads: 0, shutdown_timeout_seconds: 0}"),
        [
            "threads: must be at least 1",
            "shutdown_timeout_seconds: must be at least 1"
        ]
    );
    assert_eq!(ok("threads: 4").threads, 4);
}

#[test]
fn client_header_timeout_is_between_one_second_and_an_hour() {
    assert_eq!(ok("{}").client_header_timeout_seconds, 10);
    assert_eq!(
        ok("client_header_timeout_seconds: 1").client_header_timeout_seconds,
        1
    );
    assert_eq!(
        errors("{client_header_timeout_seconds: 0, threads: 0}"),
        [
            "threads: must be at least 1",
            "client_header_timeout_seconds: must be between 1 and 3600 seconds"
        ]
    );
    assert_eq!(
        errors("client_header_timeout_seconds: 3601"),
        ["client_header_timeout_seconds: must be between 1 and 3600 seconds"]
    );
}

#[test]
fn drop_underscore_headers_can_be_turned_off() {
    assert!(!ok("drop_underscore_headers: false").drop_underscore_headers);
    assert!(ok("{}").access_log);
    assert!(!ok("access_log: false").access_log);
}

#[test]
fn identity_headers_must_be_header_names() {
    assert_eq!(
        errors("identity_headers: {phone: 'X Phone'}"),
        ["identity_headers.phone: \"X Phone\" is not a header name"]
    );
    assert_eq!(
        ok("identity_headers: {phone: X-User-Phone}")
            .identity_headers
            .phone,
        "X-User-Phone"
    );
}

#[test]
fn identity_headers_must_be_names_the_proxy_can_build() {
    // `http::HeaderName` refuses names of 64 KiB and more.
    let long = "X".repeat(65_536);
    assert_eq!(
        errors(&format!("identity_headers: {{phone: {long}}}")),
        [format!(
            "identity_headers.phone: {long:?} is not a header name"
        )]
    );
}

#[test]
fn identity_headers_must_differ_even_in_case_and_underscores() {
    assert_eq!(
        errors("identity_headers: {openid: x_auth_user_id}"),
        ["identity_headers.openid: \"x_auth_user_id\" is already used by identity_headers.user_id"]
    );
    // The proxy strips look-alikes with any separator, so they clash too.
    assert_eq!(
        errors("identity_headers: {openid: X.Auth.UserId}"),
        ["identity_headers.openid: \"X.Auth.UserId\" is already used by identity_headers.user_id"]
    );
}

#[test]
fn identity_headers_cannot_take_over_http_headers() {
    assert_eq!(
        errors("identity_headers: {user_id: Cookie, method: transfer-encoding}"),
        [
            "identity_headers.user_id: \"Cookie\" is a header the gateway or HTTP itself needs",
            "identity_headers.method: \"transfer-encoding\" is a header the gateway or HTTP itself needs",
        ]
    );
}
