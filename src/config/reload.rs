//! What a reload cannot apply: the sections of a new config that differ from the running
//! one where only a restart takes the change (a reload swaps the routes only).

use super::model::Config;

/// The top-level sections of `new` that differ from `old`, in file order, `routes` aside.
/// Compares values (`PartialEq`), secrets included: a changed session secret or app secret
/// is named like any other change (and, like any other, still needs a restart).
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    // Destructured so that a new section cannot be left out of the comparison.
    let Config {
        listen,
        public_url,
        auth_path,
        admin_listen,
        admin,
        trusted_proxies,
        forward_auth_trusted,
        tls,
        threads,
        shutdown_timeout_seconds,
        client_header_timeout_seconds,
        client_keepalive_timeout_seconds,
        drop_underscore_headers,
        access_log,
        store,
        session,
        identity_headers,
        wechat,
        login,
        tokens,
        routes: _,
    } = old;
    let sections = [
        ("listen", *listen != new.listen),
        ("public_url", *public_url != new.public_url),
        ("auth_path", *auth_path != new.auth_path),
        ("admin_listen", *admin_listen != new.admin_listen),
        ("admin", *admin != new.admin),
        ("trusted_proxies", *trusted_proxies != new.trusted_proxies),
        (
            "forward_auth",
            *forward_auth_trusted != new.forward_auth_trusted,
        ),
        ("tls", *tls != new.tls),
        ("threads", *threads != new.threads),
        (
            "shutdown_timeout_seconds",
            *shutdown_timeout_seconds != new.shutdown_timeout_seconds,
        ),
        (
            "client_header_timeout_seconds",
            *client_header_timeout_seconds != new.client_header_timeout_seconds,
        ),
        (
            "client_keepalive_timeout_seconds",
            *client_keepalive_timeout_seconds != new.client_keepalive_timeout_seconds,
        ),
        (
            "drop_underscore_headers",
            *drop_underscore_headers != new.drop_underscore_headers,
        ),
        ("access_log", *access_log != new.access_log),
        ("store", *store != new.store),
        ("session", *session != new.session),
        (
            "identity_headers",
            *identity_headers != new.identity_headers,
        ),
        ("wechat", *wechat != new.wechat),
        ("login", *login != new.login),
        ("tokens", *tokens != new.tokens),
    ];
    sections
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::MapEnv;

    fn config(extra: &str) -> Config {
        let yaml = format!(
            "public_url: http://gw.test\nsession: {{secret: \"0123456789abcdef0123456789abcdef\"}}\nwechat: {{simulate: true}}\n{extra}"
        );
        crate::config::from_yaml(&yaml, &MapEnv::new()).unwrap()
    }

    #[test]
    fn a_reload_names_the_sections_only_a_restart_applies() {
        let routes = "routes: [{name: a, upstreams: ['127.0.0.1:1']}]\n";
        let other_routes = "routes: [{name: b, path_prefix: /b, upstreams: ['127.0.0.1:2']}]\n";
        let old = config(routes);
        assert!(restart_only_changes(&old, &config(other_routes)).is_empty());
        let changed = config(&format!(
            "{other_routes}login: {{code_ttl_seconds: 120}}\nthreads: 2\n"
        ));
        assert_eq!(restart_only_changes(&old, &changed), ["threads", "login"]);
    }

    #[test]
    fn a_changed_secret_is_noticed_though_it_is_never_shown() {
        let with_secrets = |session: &str, app: &str| {
            let yaml = format!(
                "public_url: http://gw.test\nsession: {{secret: \"{session}\"}}\n\
                 wechat: {{official_account: {{app_id: wx1, app_secret: {app}, token: tok123}}}}\n\
                 routes: [{{name: a, upstreams: ['127.0.0.1:1']}}]\n"
            );
            crate::config::from_yaml(&yaml, &MapEnv::new()).unwrap()
        };
        let (first, second) = ("a".repeat(32), "b".repeat(32));
        let old = with_secrets(&first, "s1");
        assert_eq!(
            restart_only_changes(&old, &with_secrets(&second, "s1")),
            ["session"]
        );
        assert_eq!(
            restart_only_changes(&old, &with_secrets(&first, "s2")),
            ["wechat"]
        );
        // Their Debug text is the same: that is what the comparison must not rely on.
        assert_eq!(
            format!("{old:?}"),
            format!("{:?}", with_secrets(&second, "s2"))
        );
    }
}
