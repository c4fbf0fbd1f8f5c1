//! The directory over the real embedded store, in a temp dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::*;
use crate::store::SqliteStore;

const OA: &str = "wx_official_account";
const MP: &str = "wx_mini_program";
const NOW: u64 = 1_700_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Arc<dyn Store>,
    users: UserDirectory,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scangate.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let users = UserDirectory::new(store.clone());
    Fixture {
        _dir: dir,
        path,
        store,
        users,
    }
}

fn openid(s: &str) -> OpenId {
    OpenId::new(s)
}

fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}

/// How many user records the file holds, found or not.
fn records_in(path: &Path) -> usize {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT key FROM kv").unwrap();
    let keys: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    keys.iter().filter(|k| k.starts_with(b"users:id:")).count()
}

#[tokio::test]
async fn register_creates_a_user_found_by_every_index() {
    let f = fixture();
    let unionid = UnionId::new("union-1");
    let p = phone("13800138000");
    let user = f
        .users
        .register(OA, &openid("o-1"), Some(&unionid), Some(&p), NOW)
        .await
        .unwrap();

    assert!(user.id.as_str().starts_with("u_"));
    assert_eq!(user.openid(OA), Some(&openid("o-1")));
    assert_eq!(user.unionid.as_ref(), Some(&unionid));
    assert_eq!(user.phone.as_ref(), Some(&p));
    assert_eq!(
        (user.created_at, user.last_login_at, user.disabled),
        (NOW, None, false)
    );

    let by_id = f.users.get(&user.id).await.unwrap();
    let by_openid = f.users.find_by_openid(OA, &openid("o-1")).await.unwrap();
    let by_unionid = f.users.find_by_unionid(&unionid).await.unwrap();
    let by_phone = f.users.find_by_phone(&p).await.unwrap();
    for found in [by_id, by_openid, by_unionid, by_phone] {
        assert_eq!(found.as_ref(), Some(&user));
    }
    assert_eq!(
        f.users.find_by_openid(MP, &openid("o-1")).await.unwrap(),
        None,
        "openid is per app"
    );
    assert_eq!(
        f.users.find_by_phone(&phone("13900139000")).await.unwrap(),
        None
    );
    assert_eq!(f.users.get(&UserId::new("u_nobody")).await.unwrap(), None);
}

#[tokio::test]
async fn registering_a_known_openid_returns_the_same_user() {
    let f = fixture();
    let first = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW)
        .await
        .unwrap();
    let again = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW + 10)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(records_in(&f.path), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_openid_make_one_user() {
    let f = fixture();
    let p = phone("13800138000");
    let mut tasks = JoinSet::new();
    for _ in 0..16 {
        let users = f.users.clone();
        let p = p.clone();
        tasks.spawn(async move {
            users
                .register(OA, &openid("o-race"), None, Some(&p), NOW)
                .await
        });
    }
    let ids: Vec<UserId> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one person, one user: {ids:?}"
    );
    assert_eq!(
        records_in(&f.path),
        1,
        "losers must not leave records behind"
    );
    let user = f.users.find_by_phone(&p).await.unwrap().unwrap();
    assert_eq!(user.id, ids[0]);
}

#[tokio::test]
async fn a_known_unionid_links_the_new_openid_to_its_user() {
    let f = fixture();
    let unionid = UnionId::new("union-1");
    let oa = f
        .users
        .register(OA, &openid("o-oa"), Some(&unionid), None, NOW)
        .await
        .unwrap();
    let mp = f
        .users
        .register(MP, &openid("o-mp"), Some(&unionid), None, NOW + 5)
        .await
        .unwrap();
    assert_eq!(oa.id, mp.id, "same unionid, same person");
    assert_eq!(mp.openid(OA), Some(&openid("o-oa")));
    assert_eq!(mp.openid(MP), Some(&openid("o-mp")));
    assert_eq!(mp.created_at, NOW, "linking keeps the original record");
    let found = f
        .users
        .find_by_openid(MP, &openid("o-mp"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, oa.id);
    assert_eq!(records_in(&f.path), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_through_two_apps_make_one_user() {
    let f = fixture();
    let unionid = UnionId::new("union-race");
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let users = f.users.clone();
        let unionid = unionid.clone();
        let (app, oid) = if i % 2 == 0 {
            (OA, "o-oa")
        } else {
            (MP, "o-mp")
        };
        tasks.spawn(async move {
            users
                .register(app, &openid(oid), Some(&unionid), None, NOW)
                .await
        });
    }
    let ids: Vec<UserId> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let user = f.users.get(&ids[0]).await.unwrap().unwrap();
    assert_eq!(
        user.openids.len(),
        2,
        "both openids on the one user: {user:?}"
    );
    assert_eq!(records_in(&f.path), 1);
}

#[tokio::test]
async fn a_unionid_learned_later_is_attached() {
    let f = fixture();
    let user = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW)
        .await
        .unwrap();
    let unionid = UnionId::new("union-late");
    let again = f
        .users
        .register(OA, &openid("o-1"), Some(&unionid), None, NOW)
        .await
        .unwrap();
    assert_eq!(again.id, user.id);
    assert_eq!(again.unionid.as_ref(), Some(&unionid));
    assert_eq!(
        f.users.find_by_unionid(&unionid).await.unwrap().unwrap().id,
        user.id
    );
}

#[tokio::test]
async fn a_phone_of_another_user_is_refused_and_creates_nobody() {
    let f = fixture();
    let p = phone("+86 138 0013 8000");
    let owner = f
        .users
        .register(OA, &openid("o-owner"), None, Some(&p), NOW)
        .await
        .unwrap();

    let err = f
        .users
        .register(OA, &openid("o-other"), None, Some(&p), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, UsersError::PhoneTaken), "{err}");
    assert_eq!(
        f.users
            .find_by_openid(OA, &openid("o-other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(records_in(&f.path), 1);

    // Without a phone, the same person registers fine, then cannot take the phone either.
    let other = f
        .users
        .register(OA, &openid("o-other"), None, None, NOW)
        .await
        .unwrap();
    let err = f.users.bind_phone(&other.id, &p, NOW).await.unwrap_err();
    assert!(matches!(err, UsersError::PhoneTaken), "{err}");
    assert_eq!(
        f.users.find_by_phone(&p).await.unwrap().unwrap().id,
        owner.id
    );
    assert_eq!(f.users.get(&other.id).await.unwrap().unwrap().phone, None);
    assert!(
        !err.to_string().contains("138"),
        "errors never show the number"
    );
}

#[tokio::test]
async fn binding_phones() {
    let f = fixture();
    let p = phone("13800138000");
    let user = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW)
        .await
        .unwrap();
    let bound = f.users.bind_phone(&user.id, &p, NOW).await.unwrap();
    assert_eq!(bound.phone.as_ref(), Some(&p));
    assert_eq!(
        f.users.bind_phone(&user.id, &p, NOW).await.unwrap(),
        bound,
        "again is a no-op"
    );
    let err = f
        .users
        .bind_phone(&user.id, &phone("13900139000"), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, UsersError::PhoneAlreadyBound), "{err}");
    assert_eq!(
        f.users.find_by_phone(&phone("13900139000")).await.unwrap(),
        None,
        "claim released"
    );
    let err = f
        .users
        .bind_phone(&UserId::new("u_nobody"), &p, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, UsersError::NotFound), "{err}");
    // The released number is free for someone else.
    let other = f
        .users
        .register(OA, &openid("o-2"), None, None, NOW)
        .await
        .unwrap();
    f.users
        .bind_phone(&other.id, &phone("13900139000"), NOW)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_users_racing_for_one_phone_one_wins() {
    let f = fixture();
    let p = phone("13800138000");
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            f.users
                .register(OA, &openid(&format!("o-{i}")), None, None, NOW)
                .await
                .unwrap()
                .id,
        );
    }
    let mut tasks = JoinSet::new();
    for id in ids {
        let users = f.users.clone();
        let p = p.clone();
        tasks.spawn(async move { (id.clone(), users.bind_phone(&id, &p, NOW).await) });
    }
    let results = tasks.join_all().await;
    let winners: Vec<&UserId> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one binding wins");
    for (_, r) in &results {
        assert!(matches!(r, Ok(_) | Err(UsersError::PhoneTaken)), "{r:?}");
    }
    assert_eq!(
        &f.users.find_by_phone(&p).await.unwrap().unwrap().id,
        winners[0]
    );
}

#[tokio::test]
async fn logins_and_disabling_are_recorded() {
    let f = fixture();
    let user = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW)
        .await
        .unwrap();
    let user = f
        .users
        .record_login(&user.id, LoginMethod::OfficialAccount, NOW + 60)
        .await
        .unwrap();
    assert_eq!(user.last_login_at, Some(NOW + 60));
    let user = f.users.set_disabled(&user.id, true).await.unwrap();
    assert!(user.disabled);
    let found = f
        .users
        .find_by_openid(OA, &openid("o-1"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        found.disabled,
        "a disabled user is still found; the login flow refuses them"
    );
    assert_eq!(found.last_login_at, Some(NOW + 60));
    assert!(
        !f.users
            .set_disabled(&user.id, false)
            .await
            .unwrap()
            .disabled
    );
    let err = f
        .users
        .record_login(&UserId::new("u_nobody"), LoginMethod::OfficialAccount, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, UsersError::NotFound), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_user_lose_nothing() {
    let f = fixture();
    let user = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW)
        .await
        .unwrap();
    let p = phone("13800138000");
    let mut tasks = JoinSet::new();
    for i in 0..8u64 {
        let (users, id) = (f.users.clone(), user.id.clone());
        tasks.spawn(async move {
            users
                .record_login(&id, LoginMethod::MiniProgram, NOW + i)
                .await
                .map(|_| ())
        });
    }
    let (users, id, p2) = (f.users.clone(), user.id.clone(), p.clone());
    tasks.spawn(async move { users.bind_phone(&id, &p2, NOW).await.map(|_| ()) });
    let (users, id) = (f.users.clone(), user.id.clone());
    tasks.spawn(async move { users.set_disabled(&id, true).await.map(|_| ()) });
    for r in tasks.join_all().await {
        r.unwrap();
    }
    let user = f.users.get(&user.id).await.unwrap().unwrap();
    assert_eq!(
        user.phone.as_ref(),
        Some(&p),
        "the phone binding was overwritten"
    );
    assert!(user.disabled, "disabling was overwritten");
    assert!(user.last_login_at.is_some());
}

#[tokio::test]
async fn users_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/scangate.db");
    let p = phone("13800138000");
    let unionid = UnionId::new("union-1");
    let user = {
        let users = UserDirectory::new(Arc::new(SqliteStore::open(&path).unwrap()));
        let user = users
            .register(OA, &openid("o-1"), Some(&unionid), Some(&p), NOW)
            .await
            .unwrap();
        users
            .record_login(&user.id, LoginMethod::OfficialAccount, NOW + 1)
            .await
            .unwrap()
    };
    let users = UserDirectory::new(Arc::new(SqliteStore::open(&path).unwrap()));
    assert_eq!(users.get(&user.id).await.unwrap().as_ref(), Some(&user));
    assert_eq!(
        users
            .find_by_openid(OA, &openid("o-1"))
            .await
            .unwrap()
            .as_ref(),
        Some(&user)
    );
    assert_eq!(
        users.find_by_unionid(&unionid).await.unwrap().as_ref(),
        Some(&user)
    );
    assert_eq!(users.find_by_phone(&p).await.unwrap().as_ref(), Some(&user));
}

/// What a process that died right after claiming an index leaves behind.
async fn leave_dangling_claim(store: &dyn Store, key: &str, at: u64) {
    let entry = format!(r#"{{"user":"u_diedhalfway00000","at":{at}}}"#);
    store.put(key, entry.as_bytes(), None).await.unwrap();
}

#[tokio::test]
async fn a_stale_dangling_index_is_ignored_and_taken_over() {
    let f = fixture();
    let p = phone("13800138000");
    let old = NOW - CLAIM_GRACE_SECONDS - 1;
    leave_dangling_claim(f.store.as_ref(), &keys::openid(OA, &openid("o-1")), old).await;
    leave_dangling_claim(f.store.as_ref(), &keys::phone(&p), old).await;
    assert_eq!(
        f.users.find_by_openid(OA, &openid("o-1")).await.unwrap(),
        None
    );
    assert_eq!(f.users.find_by_phone(&p).await.unwrap(), None);

    let user = f
        .users
        .register(OA, &openid("o-1"), None, Some(&p), NOW)
        .await
        .unwrap();
    assert_eq!(
        f.users
            .find_by_openid(OA, &openid("o-1"))
            .await
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
    assert_eq!(
        f.users.find_by_phone(&p).await.unwrap().unwrap().id,
        user.id
    );
}

#[tokio::test]
async fn a_fresh_dangling_index_means_busy_until_it_goes_stale() {
    let f = fixture();
    let key = keys::openid(OA, &openid("o-1"));
    leave_dangling_claim(f.store.as_ref(), &key, NOW).await;
    let err = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW + 1)
        .await
        .unwrap_err();
    assert!(matches!(err, UsersError::Busy), "{err}");
    let later = NOW + CLAIM_GRACE_SECONDS;
    let user = f
        .users
        .register(OA, &openid("o-1"), None, None, later)
        .await
        .unwrap();
    assert_eq!(user.created_at, later);
}

#[tokio::test]
async fn an_unreadable_index_entry_counts_as_stale() {
    let f = fixture();
    f.store
        .put(&keys::unionid(&UnionId::new("u-1")), b"\xffjunk", None)
        .await
        .unwrap();
    let user = f
        .users
        .register(OA, &openid("o-1"), Some(&UnionId::new("u-1")), None, NOW)
        .await
        .unwrap();
    assert_eq!(
        f.users
            .find_by_unionid(&UnionId::new("u-1"))
            .await
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
}

#[tokio::test]
async fn app_ids_and_openids_with_separators_stay_apart() {
    let f = fixture();
    let a = f
        .users
        .register("a:b", &openid("c"), None, None, NOW)
        .await
        .unwrap();
    let b = f
        .users
        .register("a", &openid("b:c"), None, None, NOW)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_without_its_content() {
    let f = fixture();
    let user = f
        .users
        .register(OA, &openid("o-1"), None, None, NOW)
        .await
        .unwrap();
    f.store
        .put(&keys::user(&user.id), br#"{"phone":"+8613800138000""#, None)
        .await
        .unwrap();
    let err = f.users.get(&user.id).await.unwrap_err();
    assert!(matches!(err, UsersError::Corrupt), "{err}");
    assert!(!format!("{err} {err:?}").contains("138"));
}
