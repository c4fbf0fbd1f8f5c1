use crate::config::model::StoreConfig;
use crate::config::testing::{errors, ok};

#[test]
fn embedded_store_takes_its_path() {
    assert_eq!(
        ok("store: {path: /var/lib/sg.db}").store,
        StoreConfig::Embedded {
            path: "/var/lib/sg.db".into()
        }
    );
    assert_eq!(errors("store: {path: ''}"), ["store.path: is empty"]);
}

#[test]
fn redis_store_needs_a_url() {
    assert_eq!(
        errors("store: {backend: redis}"),
        ["store.url: is required (or url_file)"]
    );
    let c = ok("store: {backend: redis, url: 'rediss://:pw@db:6380/1', key_prefix: 'sg:'}");
    assert!(matches!(c.store, StoreConfig::Redis { ref key_prefix, .. } if key_prefix == "sg:"));
    assert!(
        matches!(ok("store: {backend: redis, url: 'redis+sentinel://s1,s2/mymaster'}").store, StoreConfig::Redis { ref key_prefix, .. } if key_prefix == "scangate:")
    );
}

#[test]
fn redis_url_scheme_is_checked_without_printing_the_url() {
    assert_eq!(
        errors("store: {backend: redis, url: 'http://:hunter2@db'}"),
        ["store.url: must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL"]
    );
}

#[test]
fn a_redis_url_the_store_would_refuse_is_refused_by_check() {
    for url in [
        "redis://:hunter2@db:99999",
        "redis://:hunter2@db/notadb",
        "redis://:hunter2@db?timeout=3",
        "redis+sentinel://:hunter2@s1:26379",
    ] {
        let got = errors(&format!("store: {{backend: redis, url: '{url}'}}"));
        assert_eq!(got.len(), 1, "{url}: {got:?}");
        assert!(got[0].starts_with("store.url: "), "{url}: {got:?}");
        assert!(!got[0].contains("hunter2"), "{url}: {got:?}");
    }
    for url in [
        "redis://127.0.0.1:6379/0",
        "rediss://user:pw@redis.internal",
        "redis+sentinel://s1,s2:26380/mymaster/2",
        "redis+cluster://a:7000,b:7001",
    ] {
        ok(&format!("store: {{backend: redis, url: '{url}'}}"));
    }
}
