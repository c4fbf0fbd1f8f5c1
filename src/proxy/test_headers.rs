//! Test support: a `HeaderMap` from name/value pairs, in order, repeats kept.

use http::{HeaderMap, HeaderValue};

pub fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}
