//! The login pages in a real browser: headless Chromium driven through chromedriver
//! (WebDriver), against the real gateway in demo mode in front of a small app. Each test has
//! its own gateway, chromedriver and browser profile; at most two browsers run at once. A
//! failing test leaves a screenshot under `<target>/browser-screenshots/` and names it.
//!
//! Without Chromium and chromedriver every test passes after one line saying it was skipped;
//! `SCANGATE_TEST_REQUIRE_BROWSER=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../gateway/harness.rs"]
mod harness;

mod driver;
mod page;
mod site;
mod visibility;

mod devices;
mod errors;
mod journeys;
mod look;
mod resilience;
mod tokens;
mod wechat_pages;
