//! Unique indexes (openid, unionid, phone → user) over a store without multi-key transactions.
//!
//! An index key holds `{"user": id, "at": claimed_at}`. The protocol:
//! 1. **Claim first**: `put_if_absent` on the index key decides, atomically, who gets the
//!    openid or phone. Only then is the user record written or updated to carry it.
//! 2. **The record confirms the claim**: an index entry counts only if the record it names
//!    carries the attribute. Lookups check both, so a half-done operation is never visible.
//! 3. **Dangling entries**: a process that dies between steps 1 and 2 (or a failed store call)
//!    leaves an entry whose record does not carry the attribute. For [`CLAIM_GRACE_SECONDS`]
//!    after its claim it is treated as *pending* (another operation is still finishing; callers
//!    wait briefly or answer "busy"); after that it is *stale* and the next claimer takes it
//!    over with a compare-and-swap, so exactly one claimer wins. The grace period is what keeps
//!    a slow but live operation from being overtaken; every store call times out well within it.
//! 4. A claim made by an operation that then fails is released with compare-and-delete, which
//!    never removes someone else's entry.

use serde::{Deserialize, Serialize};

use super::record::User;
use super::{keys, UsersError};
use crate::identity::UserId;
use crate::store::Store;

/// How long an unconfirmed index entry blocks others before it counts as abandoned.
pub const CLAIM_GRACE_SECONDS: u64 = 60;

#[derive(Serialize, Deserialize)]
struct Entry {
    user: UserId,
    /// Unix seconds of the claim.
    at: u64,
}

/// What an index key currently says.
pub(super) enum Slot {
    Free,
    /// It names a user whose record carries the attribute; `raw` is the entry as stored.
    Owned {
        user: User,
        raw: Vec<u8>,
    },
    /// It names a user whose record does not (yet) carry the attribute, or cannot be read.
    Unconfirmed {
        raw: Vec<u8>,
        user: Option<UserId>,
        at: u64,
    },
}

impl Slot {
    /// An unconfirmed entry young enough that its operation may still be running.
    pub(super) fn is_pending(&self, now: u64) -> bool {
        matches!(self, Slot::Unconfirmed { at, .. } if now.saturating_sub(*at) < CLAIM_GRACE_SECONDS)
    }
}

/// The outcome of [`claim`].
pub(super) enum Claim {
    /// The key names our user. `raw` is its exact value; `fresh` says this call wrote it (and
    /// so may release it), as opposed to finding an earlier claim of the same user.
    Won { raw: Vec<u8>, fresh: bool },
    /// Another user holds it.
    Held(User),
    /// Another operation claimed it moments ago and has not finished.
    Pending,
}

/// Reads an index key and the record it names. `holds` says whether a record carries the
/// attribute this index is for.
pub(super) async fn slot(
    store: &dyn Store,
    key: &str,
    holds: impl Fn(&User) -> bool,
) -> Result<Slot, UsersError> {
    let Some(raw) = store.get(key).await? else {
        return Ok(Slot::Free);
    };
    let Ok(entry) = serde_json::from_slice::<Entry>(&raw) else {
        // Not ours to interpret: as good as abandoned long ago.
        return Ok(Slot::Unconfirmed {
            raw,
            user: None,
            at: 0,
        });
    };
    match read_user(store, &entry.user).await? {
        Some(user) if holds(&user) => Ok(Slot::Owned { user, raw }),
        _ => Ok(Slot::Unconfirmed {
            raw,
            user: Some(entry.user),
            at: entry.at,
        }),
    }
}

/// Makes `key` name `user` unless a confirmed or pending entry names someone else.
pub(super) async fn claim(
    store: &dyn Store,
    key: &str,
    user: &UserId,
    now: u64,
    holds: impl Fn(&User) -> bool,
) -> Result<Claim, UsersError> {
    let mine = serde_json::to_vec(&Entry {
        user: user.clone(),
        at: now,
    })
    .map_err(|_| UsersError::Corrupt)?;
    // Each round either wins, or sees a state that another caller changed meanwhile.
    for _ in 0..4 {
        if store.put_if_absent(key, &mine, None).await? {
            return Ok(Claim::Won {
                raw: mine,
                fresh: true,
            });
        }
        match slot(store, key, &holds).await? {
            Slot::Free => continue,
            Slot::Owned { user: owner, raw } if owner.id == *user => {
                return Ok(Claim::Won { raw, fresh: false });
            }
            Slot::Owned { user: owner, .. } => return Ok(Claim::Held(owner)),
            Slot::Unconfirmed {
                raw, user: Some(u), ..
            } if u == *user => {
                return Ok(Claim::Won { raw, fresh: false });
            }
            s @ Slot::Unconfirmed { .. } if s.is_pending(now) => return Ok(Claim::Pending),
            Slot::Unconfirmed { raw, .. } => {
                if store.compare_and_swap(key, &raw, &mine, None).await? {
                    return Ok(Claim::Won {
                        raw: mine,
                        fresh: true,
                    });
                }
            }
        }
    }
    Ok(Claim::Pending)
}

/// Gives up claims this operation made, best effort: if the store fails now, the entries
/// dangle and become stale after the grace period.
pub(super) async fn release(store: &dyn Store, claims: &[(String, Vec<u8>)]) {
    for (key, raw) in claims {
        if let Err(e) = store.compare_and_delete(key, raw).await {
            tracing::warn!(error = %e, "could not release a user index claim; it will go stale");
        }
    }
}

/// The user record `id`, if it exists.
pub(super) async fn read_user(store: &dyn Store, id: &UserId) -> Result<Option<User>, UsersError> {
    match store.get(&keys::user(id)).await? {
        None => Ok(None),
        Some(raw) => decode(&raw).map(Some),
    }
}

pub(super) fn decode(raw: &[u8]) -> Result<User, UsersError> {
    // serde_json's message may quote the record (phone numbers): drop it.
    serde_json::from_slice(raw).map_err(|_| UsersError::Corrupt)
}

pub(super) fn encode(user: &User) -> Result<Vec<u8>, UsersError> {
    serde_json::to_vec(user).map_err(|_| UsersError::Corrupt)
}
