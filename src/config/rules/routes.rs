//! `routes`: where requests go (host, path prefix, upstreams) and who may pass (policy,
//! allow-lists).

use std::collections::HashMap;

use super::Validator;
use crate::config::file::{AuthFile, RouteFile};
use crate::config::model::{AuthPolicy, HostPattern, Route, Upstream};
use crate::config::syntax::check_path_shape;
use crate::identity::{Phone, UserId};

#[cfg(test)]
mod tests;

impl Validator<'_> {
    pub(super) fn routes(
        &mut self,
        routes: Vec<RouteFile>,
        auth_path: Option<&str>,
    ) -> Option<Vec<Route>> {
        if routes.is_empty() {
            return self.reject("routes", "at least one route is required");
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        self.each(routes, |v, i, route| {
            v.route(i, route, auth_path, &mut names)
        })
    }

    fn route(
        &mut self,
        i: usize,
        route: RouteFile,
        auth_path: Option<&str>,
        names: &mut HashMap<String, usize>,
    ) -> Option<Route> {
        let at = format!("routes[{i}]");
        let RouteFile {
            name,
            host,
            path_prefix,
            upstreams,
            auth,
            allow_phones,
            allow_users,
            connect_timeout_seconds,
            read_timeout_seconds,
        } = route;

        let name = match name {
            None => self.reject(format!("{at}.name"), "is required"),
            Some(n) if n.is_empty() || !n.bytes().all(is_route_name_byte) => self.reject(
                format!("{at}.name"),
                format!("{n:?} may only contain letters, digits, '_', '.' and '-'"),
            ),
            Some(n) => match names.get(&n) {
                Some(first) => self.reject(
                    format!("{at}.name"),
                    format!("{n:?} is already the name of routes[{first}]"),
                ),
                None => {
                    names.insert(n.clone(), i);
                    Some(n)
                }
            },
        };
        let host = match host {
            None => Some(None),
            Some(h) => match HostPattern::parse(&h) {
                Ok(pattern) => Some(Some(pattern)),
                Err(why) => self.reject(format!("{at}.host"), why),
            },
        };
        let path_prefix = self.path_prefix(&format!("{at}.path_prefix"), path_prefix, auth_path);
        let upstreams = self.upstreams(&at, &upstreams);
        let auth = match auth {
            AuthFile::Public => AuthPolicy::Public,
            AuthFile::Login => AuthPolicy::Login,
            AuthFile::Phone => AuthPolicy::Phone,
        };
        let allow_phones = self.allow_phones(&at, &allow_phones);
        let allow_users = self.allow_users(&at, &allow_users);
        let mut lists_ok = true;
        if auth == AuthPolicy::Public {
            for (key, used) in [
                (
                    "allow_phones",
                    !allow_phones.as_ref().is_none_or(Vec::is_empty),
                ),
                (
                    "allow_users",
                    !allow_users.as_ref().is_none_or(Vec::is_empty),
                ),
            ] {
                if used {
                    lists_ok = false;
                    self.issues.add(
                        format!("{at}.{key}"),
                        "has no effect with auth: public (use auth: login or phone)",
                    );
                }
            }
        }
        let connect_timeout_seconds = self.at_least_one(
            &format!("{at}.connect_timeout_seconds"),
            connect_timeout_seconds,
        );
        let read_timeout_seconds =
            self.at_least_one(&format!("{at}.read_timeout_seconds"), read_timeout_seconds);
        if !lists_ok {
            return None;
        }
        Some(Route {
            name: name?,
            host: host?,
            path_prefix: path_prefix?,
            upstreams: upstreams?,
            auth,
            allow_phones: allow_phones?,
            allow_users: allow_users?,
            connect_timeout_seconds: connect_timeout_seconds?,
            read_timeout_seconds: read_timeout_seconds?,
        })
    }

    fn path_prefix(
        &mut self,
        path: &str,
        prefix: String,
        auth_path: Option<&str>,
    ) -> Option<String> {
        if let Err(why) = check_path_shape(&prefix) {
            return self.reject(path, why);
        }
        if let Some(reserved) = auth_path {
            let under = prefix == reserved
                || prefix
                    .strip_prefix(reserved)
                    .is_some_and(|rest| rest.starts_with('/'));
            if under {
                return self.reject(
                    path,
                    format!("{prefix:?} is under auth_path {reserved:?}, which the gateway serves itself"),
                );
            }
        }
        Some(prefix)
    }

    fn upstreams(&mut self, at: &str, upstreams: &[String]) -> Option<Vec<Upstream>> {
        if upstreams.is_empty() {
            return self.reject(
                format!("{at}.upstreams"),
                "at least one upstream is required",
            );
        }
        self.each(upstreams, |v, j, name| match Upstream::resolve(name) {
            Ok(upstream) => Some(upstream),
            Err(why) => v.reject(format!("{at}.upstreams[{j}]"), why),
        })
    }

    fn allow_phones(&mut self, at: &str, phones: &[String]) -> Option<Vec<Phone>> {
        self.each(phones, |v, j, text| match Phone::parse(text) {
            Ok(phone) => Some(phone),
            Err(e) => v.reject(format!("{at}.allow_phones[{j}]"), format!("{text:?} {e}")),
        })
    }

    fn allow_users(&mut self, at: &str, users: &[String]) -> Option<Vec<UserId>> {
        self.each(users, |v, j, user| {
            if user.trim().is_empty() {
                v.reject(format!("{at}.allow_users[{j}]"), "is empty")
            } else {
                Some(UserId::new(user.as_str()))
            }
        })
    }
}

fn is_route_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}
