//! Operator actions on users, as `scangate users` and the admin API perform them: the change
//! to the directory, its effect on live sessions in every instance, and the audit line.
//! One function per action, so the CLI and the API cannot drift apart.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::admin::{self, Cursor, Page};
use super::{User, UserDirectory, UsersError};
use crate::audit::{self, Actor};
use crate::identity::{LoginMethod, OpenId, Phone, UnionId, UserId};
use crate::session::user_persist;
use crate::store::Store;

/// How an operator names the users they look for.
#[derive(Clone, Debug)]
pub enum Query {
    Id(UserId),
    Phone(Phone),
    /// An openid in any configured app (an openid is unique per app only).
    OpenId(OpenId),
    UnionId(UnionId),
}

/// A user as operators see it: every field, the phone in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserReport {
    pub id: UserId,
    pub phone: Option<String>,
    /// App id → openid.
    pub openids: BTreeMap<String, String>,
    pub unionid: Option<String>,
    pub methods: Vec<LoginMethod>,
    /// Unix seconds.
    pub created_at: u64,
    pub last_login_at: Option<u64>,
    pub blocked: bool,
    pub blocked_reason: Option<String>,
}

impl From<&User> for UserReport {
    fn from(u: &User) -> Self {
        UserReport {
            id: u.id.clone(),
            phone: u.phone.as_ref().map(|p| p.as_str().to_string()),
            openids: u
                .openids
                .iter()
                .map(|(app, o)| (app.clone(), o.as_str().to_string()))
                .collect(),
            unionid: u.unionid.as_ref().map(|x| x.as_str().to_string()),
            methods: u.methods.clone(),
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            blocked: u.disabled,
            blocked_reason: u.disabled_reason.clone(),
        }
    }
}

/// The operator's handle on the directory: who acts, over which store, with which apps.
#[derive(Clone)]
pub struct Operator {
    store: Arc<dyn Store>,
    users: UserDirectory,
    actor: Actor,
    /// The configured WeChat app ids, where an openid is looked up.
    app_ids: Vec<String>,
    /// The longest a session lives: how long a revocation must be remembered.
    session_lifetime: u64,
}

impl Operator {
    pub fn new(
        store: Arc<dyn Store>,
        actor: Actor,
        app_ids: Vec<String>,
        session_lifetime: u64,
    ) -> Self {
        Operator {
            users: UserDirectory::new(store.clone()),
            store,
            actor,
            app_ids,
            session_lifetime,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The users matching `query` (none or one, except an openid known in several apps).
    pub async fn find(&self, query: &Query) -> Result<Vec<User>, UsersError> {
        let found = match query {
            Query::Id(id) => self.users.get(id).await?.into_iter().collect(),
            Query::Phone(p) => self.users.find_by_phone(p).await?.into_iter().collect(),
            Query::UnionId(u) => self.users.find_by_unionid(u).await?.into_iter().collect(),
            Query::OpenId(o) => {
                let mut found: Vec<User> = Vec::new();
                for app in &self.app_ids {
                    if let Some(user) = self.users.find_by_openid(app, o).await? {
                        if !found.iter().any(|f| f.id == user.id) {
                            found.push(user);
                        }
                    }
                }
                found
            }
        };
        Ok(found)
    }

    pub async fn show(&self, id: &UserId) -> Result<User, UsersError> {
        self.users.get(id).await?.ok_or(UsersError::NotFound)
    }

    pub async fn list(&self, limit: usize, after: Option<&Cursor>) -> Result<Page, UsersError> {
        self.users.list_page(limit, after).await
    }

    /// Ends every session of `id` in every instance.
    pub async fn revoke(&self, id: &UserId, now: u64) -> Result<User, UsersError> {
        let user = self.show(id).await?;
        self.end_sessions(id, now).await?;
        audit::admin("admin_revoke", self.actor, Some(id), None, None);
        Ok(user)
    }

    /// Blocks `id`: their sessions answer 403 and their logins are refused.
    pub async fn block(&self, id: &UserId, reason: Option<&str>) -> Result<User, UsersError> {
        let user = self.users.set_blocked(id, true, reason).await?;
        user_persist::announce_block(self.store.as_ref(), id, true).await?;
        audit::admin("admin_block", self.actor, Some(id), None, None);
        Ok(user)
    }

    pub async fn unblock(&self, id: &UserId) -> Result<User, UsersError> {
        let user = self.users.set_blocked(id, false, None).await?;
        user_persist::announce_block(self.store.as_ref(), id, false).await?;
        audit::admin("admin_unblock", self.actor, Some(id), None, None);
        Ok(user)
    }

    pub async fn unbind_phone(&self, id: &UserId) -> Result<User, UsersError> {
        let before = self.show(id).await?;
        let user = self.users.unbind_phone(id).await?;
        audit::admin(
            "admin_unbind_phone",
            self.actor,
            Some(id),
            before.phone.as_ref(),
            None,
        );
        Ok(user)
    }

    pub async fn set_phone(
        &self,
        id: &UserId,
        phone: &Phone,
        now: u64,
    ) -> Result<User, UsersError> {
        let user = self.users.set_phone(id, phone, now).await?;
        audit::admin("admin_set_phone", self.actor, Some(id), Some(phone), None);
        Ok(user)
    }

    /// Erases `id`: sessions end first, then the directory forgets them.
    pub async fn delete(&self, id: &UserId, now: u64) -> Result<User, UsersError> {
        let before = self.show(id).await?;
        self.end_sessions(id, now).await?;
        let user = self.users.erase(id).await?;
        if before.disabled {
            // A deleted user is as revoked (401), not blocked (403).
            user_persist::announce_block(self.store.as_ref(), id, false).await?;
        }
        audit::admin(
            "admin_delete",
            self.actor,
            Some(id),
            before.phone.as_ref(),
            None,
        );
        Ok(user)
    }

    /// An export of every user, newest first, read page by page (so a caller can stream
    /// it); audited when finished.
    pub fn export(&self) -> Export<'_> {
        Export {
            operator: self,
            after: None,
            done: false,
            count: 0,
        }
    }

    async fn end_sessions(&self, id: &UserId, now: u64) -> Result<(), UsersError> {
        let until = now.saturating_add(self.session_lifetime).saturating_add(1);
        user_persist::revoke_user(self.store.as_ref(), id, now, until).await?;
        Ok(())
    }
}

/// An export under way: [`Export::next_page`] until `None`, then [`Export::finish`].
pub struct Export<'a> {
    operator: &'a Operator,
    after: Option<Cursor>,
    done: bool,
    count: u64,
}

impl Export<'_> {
    /// The next users, or `None` when all were given.
    pub async fn next_page(&mut self) -> Result<Option<Vec<UserReport>>, UsersError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .operator
            .users
            .list_page(admin::MAX_PAGE, self.after.as_ref())
            .await?;
        match page.next {
            Some(next) => self.after = Some(next),
            None => self.done = true,
        }
        self.count += page.users.len() as u64;
        Ok(Some(page.users.iter().map(UserReport::from).collect()))
    }

    /// Writes the audit line (how many users were given out); returns that count.
    pub fn finish(self) -> u64 {
        audit::admin(
            "admin_export",
            self.operator.actor,
            None,
            None,
            Some(self.count),
        );
        self.count
    }
}
