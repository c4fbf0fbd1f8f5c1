//! What operators do to the directory (`scangate users`, the admin API): list users newest
//! first, block and unblock, unbind or change a phone, erase a user.
//!
//! Two ordered sets back the listing and the gauge, both maintained here:
//! - [`LISTED`]: every user, as `{created_at:020}:{id}`, so bytewise order is creation
//!   order and a page ends at an exact, opaque cursor (the last member);
//! - [`BLOCKED`]: the ids of blocked users, so a gateway loads them at start without
//!   reading every record.
//!
//! Changes follow the index protocol of `index.rs`: the record is the truth; a set entry or
//! index entry a crash leaves behind is ignored by readers and removed by the next change
//! or erasure of the same user. Session effects (revocation, telling gateways) are not this
//! module's: see `users::ops`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::index::{claim, release, slot, Claim, Slot};
use super::{has_phone, keys, User, UserDirectory, UsersError, RETRIES, RETRY_WAIT};
use crate::identity::{Phone, UserId};
use crate::store::Store;

/// Ordered set of every user, newest last in byte order.
pub const LISTED: &str = "users:by_created";
/// Ordered set of the ids of blocked users.
pub const BLOCKED: &str = "users:blocked";
/// The most users one page may hold.
pub const MAX_PAGE: usize = 1000;

/// Where a listing continues: opaque to callers (URL-safe base64 of a set member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String);

/// A cursor that this version did not hand out.
#[derive(Debug, thiserror::Error)]
#[error("this cursor is not one a listing gave out")]
pub struct BadCursor;

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, BadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        let member = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        parse_member(&member).ok_or(BadCursor)?;
        Ok(Cursor(member))
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }
}

/// One page of a listing, newest first; `next` is `None` on the last page.
#[derive(Debug)]
pub struct Page {
    pub users: Vec<User>,
    pub next: Option<Cursor>,
}

fn member(user: &User) -> String {
    format!("{:020}:{}", user.created_at, user.id)
}

fn parse_member(member: &str) -> Option<UserId> {
    let (created, id) = member.split_once(':')?;
    (created.len() == 20 && created.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty())
        .then(|| UserId::new(id))
}

/// Puts `user` on the list (idempotent).
pub(super) async fn list(store: &dyn Store, user: &User) -> Result<(), UsersError> {
    store.set_add(LISTED, &member(user)).await?;
    Ok(())
}

/// Every blocked user's id, as the blocked set holds them (for a gateway's start and
/// reloads).
pub async fn blocked_ids(store: &dyn Store) -> Result<Vec<UserId>, UsersError> {
    let mut ids = Vec::new();
    let mut below: Option<String> = None;
    loop {
        let page = store
            .set_page_desc(BLOCKED, below.as_deref(), MAX_PAGE)
            .await?;
        let full = page.len() == MAX_PAGE;
        below = page.last().cloned();
        ids.extend(page.into_iter().map(UserId::new));
        if !full {
            return Ok(ids);
        }
    }
}

/// `(all users, blocked users)` as the sets count them.
pub async fn counts(store: &dyn Store) -> Result<(u64, u64), UsersError> {
    Ok((store.set_len(LISTED).await?, store.set_len(BLOCKED).await?))
}

impl UserDirectory {
    /// Up to `limit` users (at most [`MAX_PAGE`]), newest first, after `after`.
    pub async fn list_page(
        &self,
        limit: usize,
        after: Option<&Cursor>,
    ) -> Result<Page, UsersError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let store = self.store.as_ref();
        let members = store
            .set_page_desc(LISTED, after.map(|c| c.0.as_str()), limit)
            .await?;
        let next = (members.len() == limit)
            .then(|| members.last().cloned().map(Cursor))
            .flatten();
        let mut users = Vec::with_capacity(members.len());
        for m in members {
            let Some(id) = parse_member(&m) else {
                continue;
            };
            match self.get(&id).await? {
                Some(user) => users.push(user),
                // Erased while its entry stayed (a crash between the two): tidy up.
                None => {
                    store.set_remove(LISTED, &m).await?;
                }
            }
        }
        Ok(Page { users, next })
    }

    /// Blocks `id` (keeping `reason`, or the earlier one when none is given), or unblocks
    /// it (forgetting the reason). The record first, then the blocked set.
    pub async fn set_blocked(
        &self,
        id: &UserId,
        blocked: bool,
        reason: Option<&str>,
    ) -> Result<User, UsersError> {
        let user = self
            .update(id, |u| {
                u.disabled = blocked;
                if !blocked {
                    u.disabled_reason = None;
                } else if let Some(reason) = reason {
                    u.disabled_reason = Some(reason.to_string());
                }
                Ok(())
            })
            .await?;
        if blocked {
            self.store.set_add(BLOCKED, id.as_str()).await?;
        } else {
            self.store.set_remove(BLOCKED, id.as_str()).await?;
        }
        Ok(user)
    }

    /// Removes the phone number of `id`: the record first (the index entry then confirms
    /// nothing), then the index entry. A user without a phone is left as is.
    pub async fn unbind_phone(&self, id: &UserId) -> Result<User, UsersError> {
        let user = self.get(id).await?.ok_or(UsersError::NotFound)?;
        let Some(phone) = user.phone.clone() else {
            return Ok(user);
        };
        let user = self
            .update(id, |u| {
                if u.phone.as_ref() == Some(&phone) {
                    u.phone = None;
                }
                Ok(())
            })
            .await?;
        self.drop_index_entry(&keys::phone(&phone), id).await?;
        Ok(user)
    }

    /// Gives `id` the phone `phone`, replacing any it had; [`UsersError::PhoneTaken`] when
    /// another user holds it. The new number is claimed first, then the record changes,
    /// then the old number's entry goes.
    pub async fn set_phone(
        &self,
        id: &UserId,
        phone: &Phone,
        now: u64,
    ) -> Result<User, UsersError> {
        let store = self.store.as_ref();
        let key = keys::phone(phone);
        for attempt in 0..RETRIES {
            if attempt > 0 {
                tokio::time::sleep(RETRY_WAIT).await;
            }
            let user = self.get(id).await?.ok_or(UsersError::NotFound)?;
            let old = match &user.phone {
                Some(p) if p == phone => return Ok(user),
                Some(p) => p.clone(),
                None => return self.bind_phone(id, phone, now).await,
            };
            match claim(store, &key, id, now, has_phone(phone)).await? {
                Claim::Won { raw, fresh } => {
                    let changed = self
                        .update(id, |u| {
                            u.phone = Some(phone.clone());
                            Ok(())
                        })
                        .await;
                    if changed.is_err() && fresh {
                        release(store, &[(key, raw)]).await;
                        return changed;
                    }
                    self.drop_index_entry(&keys::phone(&old), id).await?;
                    return changed;
                }
                Claim::Held(_) => return Err(UsersError::PhoneTaken),
                Claim::Pending => continue,
            }
        }
        Err(UsersError::Busy)
    }

    /// Erases `id`: every index entry naming it (openids, unionid, phone), its list and
    /// blocked entries, then the record itself, last, so that running it again after a
    /// crash finds what is left. Returns the record as it was.
    pub async fn erase(&self, id: &UserId) -> Result<User, UsersError> {
        let user = self.get(id).await?.ok_or(UsersError::NotFound)?;
        let store = self.store.as_ref();
        for (app_id, openid) in &user.openids {
            self.drop_index_entry(&keys::openid(app_id, openid), id)
                .await?;
        }
        if let Some(unionid) = &user.unionid {
            self.drop_index_entry(&keys::unionid(unionid), id).await?;
        }
        if let Some(phone) = &user.phone {
            self.drop_index_entry(&keys::phone(phone), id).await?;
        }
        store.set_remove(LISTED, &member(&user)).await?;
        store.set_remove(BLOCKED, id.as_str()).await?;
        store.delete(&keys::user(id)).await?;
        Ok(user)
    }

    /// Deletes the index entry at `key` if it names `id` (never someone else's).
    async fn drop_index_entry(&self, key: &str, id: &UserId) -> Result<(), UsersError> {
        let store = self.store.as_ref();
        let raw = match slot(store, key, |_| true).await? {
            Slot::Free => return Ok(()),
            Slot::Owned { user, raw } if user.id == *id => raw,
            Slot::Unconfirmed {
                raw, user: Some(u), ..
            } if u == *id => raw,
            Slot::Owned { .. } | Slot::Unconfirmed { .. } => return Ok(()),
        };
        store.compare_and_delete(key, &raw).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
