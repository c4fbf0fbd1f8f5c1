use std::net::{Ipv4Addr, SocketAddr};

use crate::config::model::HostPattern;
use crate::config::testing::{errors, ok};
use crate::identity::UserId;

#[test]
fn at_least_one_route_is_required() {
    assert_eq!(
        errors("routes: []"),
        ["routes: at least one route is required"]
    );
}

#[test]
fn route_names_are_required_plain_and_unique() {
    assert_eq!(
        errors("routes: [{upstreams: ['127.0.0.1:1']}, {name: 'a b', upstreams: ['127.0.0.1:1']}, {name: x, upstreams: ['127.0.0.1:1']}, {name: x, upstreams: ['127.0.0.1:1']}]"),
        [
            "routes[0].name: is required",
            "routes[1].name: \"a b\" may only contain letters, digits, '_', '.' and '-'",
            "routes[3].name: \"x\" is already the name of routes[2]",
        ]
    );
}

#[test]
fn route_hosts_are_exact_or_leading_wildcard_lowercased() {
    let c = ok("routes: [{name: a, host: App.Example.com, upstreams: ['127.0.0.1:1']}, {name: b, host: '*.Example.com', upstreams: ['127.0.0.1:1']}]");
    assert_eq!(
        c.routes[0].host,
        Some(HostPattern::Exact("app.example.com".into()))
    );
    assert_eq!(
        c.routes[1].host,
        Some(HostPattern::Suffix(".example.com".into()))
    );
}

#[test]
fn route_hosts_have_no_port_and_no_inner_wildcard() {
    assert_eq!(
        errors("routes: [{name: a, host: 'a.example.com:8080', upstreams: ['127.0.0.1:1']}, {name: b, host: 'a.*.com', upstreams: ['127.0.0.1:1']}, {name: c, host: 'a b', upstreams: ['127.0.0.1:1']}]"),
        [
            "routes[0].host: \"a.example.com:8080\" must not have a port (routes match any port)",
            "routes[1].host: \"a.*.com\": the only wildcard allowed is a leading *.",
            "routes[2].host: \"a b\" is not a host name",
        ]
    );
}

#[test]
fn path_prefix_shape_is_checked() {
    assert_eq!(
        errors("routes: [{name: a, path_prefix: api, upstreams: ['127.0.0.1:1']}, {name: b, path_prefix: '/a//b', upstreams: ['127.0.0.1:1']}]"),
        ["routes[0].path_prefix: \"api\" must start with /", "routes[1].path_prefix: \"/a//b\" must not contain //"]
    );
}

#[test]
fn path_prefix_must_not_fall_under_auth_path() {
    assert_eq!(
        errors("routes: [{name: a, path_prefix: /.auth/login, upstreams: ['127.0.0.1:1']}]"),
        ["routes[0].path_prefix: \"/.auth/login\" is under auth_path \"/.auth\", which the gateway serves itself"]
    );
    // A sibling that merely starts with the same characters is fine.
    assert_eq!(
        ok("routes: [{name: a, path_prefix: /.authors, upstreams: ['127.0.0.1:1']}]").routes[0]
            .path_prefix,
        "/.authors"
    );
}

#[test]
fn upstreams_are_required_and_resolved_once() {
    assert_eq!(
        errors("routes: [{name: a}]"),
        ["routes[0].upstreams: at least one upstream is required"]
    );
    let c = ok("routes: [{name: a, upstreams: ['localhost:3000', '[::1]:3001']}]");
    assert_eq!(c.routes[0].upstreams[0].name, "localhost:3000");
    assert_eq!(
        c.routes[0].upstreams[0].addr,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 3000))
    );
    assert_eq!(c.routes[0].upstreams[1].addr.port(), 3001);
}

#[test]
fn upstreams_that_are_not_host_port_or_do_not_resolve_are_errors() {
    assert_eq!(
        errors("routes: [{name: a, upstreams: [abc, 'a:0', 'nohost.invalid:80']}]"),
        [
            "routes[0].upstreams[0]: \"abc\" is not host:port",
            "routes[0].upstreams[1]: \"a:0\" is not host:port",
            "routes[0].upstreams[2]: cannot resolve \"nohost.invalid:80\"",
        ]
    );
}

#[test]
fn allow_phones_are_normalised_and_explained_when_wrong() {
    let c = ok("routes: [{name: a, auth: phone, upstreams: ['127.0.0.1:1'], allow_phones: ['138 0013 8000']}]");
    assert_eq!(c.routes[0].allow_phones[0].as_str(), "+8613800138000");
    assert_eq!(
        errors("routes: [{name: a, upstreams: ['127.0.0.1:1'], allow_phones: ['12345']}]"),
        ["routes[0].allow_phones[0]: \"12345\" has 5 digits; E.164 numbers have 8 to 15"]
    );
}

#[test]
fn allow_users_are_non_empty() {
    let c = ok("routes: [{name: a, upstreams: ['127.0.0.1:1'], allow_users: [u1]}]");
    assert_eq!(c.routes[0].allow_users, [UserId::new("u1")]);
    assert_eq!(
        errors("routes: [{name: a, upstreams: ['127.0.0.1:1'], allow_users: [' ']}]"),
        ["routes[0].allow_users[0]: is empty"]
    );
}

#[test]
fn allow_lists_on_a_public_route_are_an_error() {
    assert_eq!(
        errors("routes: [{name: a, auth: public, upstreams: ['127.0.0.1:1'], allow_users: [u1]}]"),
        ["routes[0].allow_users: has no effect with auth: public (use auth: login or phone)"]
    );
}

#[test]
fn route_timeouts_are_at_least_one_second() {
    assert_eq!(
        errors("routes: [{name: a, upstreams: ['127.0.0.1:1'], connect_timeout_seconds: 0, read_timeout_seconds: 0}]"),
        ["routes[0].connect_timeout_seconds: must be at least 1", "routes[0].read_timeout_seconds: must be at least 1"]
    );
}
