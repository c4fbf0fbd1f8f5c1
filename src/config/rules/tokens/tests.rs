use crate::config::testing::{errors, ok};

#[test]
fn no_audiences_by_default() {
    assert!(ok("{}").tokens.audiences.is_empty());
}

#[test]
fn an_audience_with_defaults_and_origins_in_browser_spelling() {
    let c = ok("tokens: {audiences: [{name: api, origins: ['HTTPS://SPA.Example.com:443', 'http://localhost:5173']}]}");
    let a = c.tokens.audience("api").unwrap();
    assert_eq!(a.ttl_seconds, 300);
    assert_eq!(
        a.origins,
        ["https://spa.example.com", "http://localhost:5173"]
    );
    assert!(c.tokens.audience("other").is_none());
}

#[test]
fn every_problem_is_reported_at_its_key() {
    assert_eq!(
        errors(
            "tokens: {audiences: [
               {origins: ['https://a.test/'], ttl_seconds: 59},
               {name: 'a b', origins: ['*', 'null', 'ftp://x.test', 'https://x.test/app'], ttl_seconds: 3601},
               {name: api}, {name: api}]}"
        ),
        [
            "tokens.audiences[0].name: is required",
            "tokens.audiences[0].origins[0]: must be an origin (scheme://host[:port]) without a path or trailing /",
            "tokens.audiences[0].ttl_seconds: must be between 60 and 3600 seconds",
            "tokens.audiences[1].name: must be 1 to 64 letters, digits, '-', '_', '.' or ':'",
            "tokens.audiences[1].origins[0]: \"*\" is not allowed: list each page origin exactly",
            "tokens.audiences[1].origins[1]: \"null\" is not allowed: list each page origin exactly",
            "tokens.audiences[1].origins[2]: must start with http:// or https://",
            "tokens.audiences[1].origins[3]: must be an origin (scheme://host[:port]) without a path or trailing /",
            "tokens.audiences[1].ttl_seconds: must be between 60 and 3600 seconds",
            "tokens.audiences[3].name: \"api\" is listed twice",
        ]
    );
}
