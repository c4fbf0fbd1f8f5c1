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
