//! Per-request costs of the gateway core, without the network: routing over 100 routes,
//! session cookie verification (cold = first sight of a token, cached = seen before), and
//! header strip + inject. Run: `cargo bench --bench hot_path`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use pingora::http::RequestHeader;
use scangate::config::env::MapEnv;
use scangate::config::Config;
use scangate::identity::{Identity, LoginMethod, OpenId, Phone, UnionId, UserId};
use scangate::proxy::client_ip::TrustedProxies;
use scangate::proxy::headers::HeaderPolicy;
use scangate::proxy::{path, router::Router};
use scangate::session::{AssertionSigner, SessionManager};

fn config(routes: usize) -> Config {
    let mut yaml = String::from(
        "public_url: \"https://app.example.com\"\nsession:\n  secret: \"bench-secret-bench-secret-bench-secret!!\"\nwechat:\n  simulate: true\nroutes:\n",
    );
    for i in 0..routes - 1 {
        yaml.push_str(&format!(
            "  - name: r{i}\n    host: \"h{i}.example.com\"\n    path_prefix: \"/p{i}\"\n    upstreams: [\"127.0.0.1:{}\"]\n",
            10000 + i
        ));
    }
    yaml.push_str("  - name: last\n    upstreams: [\"127.0.0.1:9999\"]\n");
    scangate::config::from_yaml(&yaml, &MapEnv::new()).unwrap()
}

fn alice() -> Identity {
    Identity {
        user_id: UserId::new("u_0123456789abcdef"),
        openid: Some(OpenId::new("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")),
        unionid: Some(UnionId::new("o6_bmasdasdsad6_2sgVt7hMZOPfL")),
        phone: Some(Phone::parse("13800138000").unwrap()),
        method: LoginMethod::OfficialAccount,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn routing(c: &mut Criterion) {
    let cfg = config(100);
    let router = Router::new(&cfg.routes);
    c.bench_function("router/100 routes, match at #50", |b| {
        b.iter(|| router.find(black_box("h50.example.com"), black_box("/p50/api/items")))
    });
    c.bench_function("router/100 routes, fall through to last", |b| {
        b.iter(|| router.find(black_box("app.example.com"), black_box("/dashboard")))
    });
    c.bench_function("path/normalise plain path", |b| {
        b.iter(|| path::normalize(black_box("/dashboard/items/42")).map(|p| p.len()))
    });
    c.bench_function("path/normalise dotted path", |b| {
        b.iter(|| path::normalize(black_box("/a/./b/../c//d%2e%2e/e")).map(|p| p.len()))
    });
}

fn sessions(c: &mut Criterion) {
    let cfg = config(2);
    let manager = SessionManager::new(&cfg.session);
    let (token, claims) = manager.issue(&alice(), now());
    let t = now();
    c.bench_function("session/verify cold (HMAC + decode)", |b| {
        b.iter_batched(
            || SessionManager::new(&cfg.session),
            |fresh| fresh.verify(black_box(&token), t).is_ok(),
            BatchSize::SmallInput,
        )
    });
    manager.verify(&token, t).unwrap();
    c.bench_function("session/verify cached", |b| {
        b.iter(|| manager.verify(black_box(&token), t).is_ok())
    });
    let (signer, _) = AssertionSigner::generate("https://app.example.com");
    signer.assertion(&claims, "app", t);
    c.bench_function("assertion/cached per session+route", |b| {
        b.iter(|| signer.assertion(black_box(&claims), "app", t).len())
    });
}

fn headers(c: &mut Criterion) {
    let cfg = config(2);
    let policy = HeaderPolicy::new(
        &cfg.identity_headers,
        true,
        &cfg.session.cookie_name,
        TrustedProxies::default(),
    )
    .unwrap();
    let mut base = RequestHeader::build("GET", b"/dashboard", None).unwrap();
    for (k, v) in [
        ("host", "app.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "zh-CN,zh;q=0.9,en;q=0.8"),
        ("accept-encoding", "gzip, deflate, br"),
        (
            "cookie",
            "theme=dark; scangate_session=eyJhbGciOiJIUzI1NiJ9.e30.sig; other=1",
        ),
    ] {
        base.append_header(k, v).unwrap();
    }
    let who = scangate::session::IdentityValues::of(&alice());
    let assertion = http::HeaderValue::from_static("header.payload.signature");
    let peer = policy.peer("203.0.113.7".parse().unwrap(), &base);
    c.bench_function("headers/strip + forwarded + inject", |b| {
        b.iter_batched(
            || base.clone(),
            |mut req| {
                policy.sanitize(&mut req, false);
                policy.forwarded(&mut req, peer, "https");
                policy.inject(&mut req, &who, &assertion);
                req
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, routing, sessions, headers);
criterion_main!(benches);
