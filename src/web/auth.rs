//! HTTP basic authentication against bcrypt hashes (the `basic_auth_users` of the
//! exporter-toolkit web configuration file).
//!
//! bcrypt is slow on purpose (cost 10 is tens of milliseconds), so, as exporter-toolkit does:
//! results are cached (keyed by a SHA-256 of user, hash and password, so no plaintext password is
//! kept), only one bcrypt runs at a time (on the blocking pool, never on the runtime), and an
//! unknown user costs a bcrypt too, against a configured hash, so that timing does not reveal
//! which users exist. The final comparison inside `bcrypt::verify` is constant-time.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use hyper::header::HeaderValue;

/// Cached verdicts at most; past this about a tenth is evicted (arbitrary entries, since
/// `HashMap` iteration order is randomly seeded).
const CACHE_CAPACITY: usize = 256;

/// Users and their bcrypt hashes; empty means no authentication.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BasicAuthUsers(pub BTreeMap<String, String>);

impl std::fmt::Debug for BasicAuthUsers {
    /// Names only: hashes stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Checks `Authorization` headers against the users.
#[derive(Debug)]
pub struct Authenticator {
    users: BTreeMap<String, String>,
    /// A configured hash that an unknown user is checked against, to cost the same time.
    decoy: String,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time: it is CPU-bound, and the exporter's work must not starve.
    gate: tokio::sync::Semaphore,
    /// bcrypt runs so far (what the cache saves).
    verifications: AtomicUsize,
}

impl Authenticator {
    /// `None` when there are no users (authentication off).
    pub fn new(users: BasicAuthUsers) -> Option<Self> {
        let decoy = users.0.values().next()?.clone();
        Some(Authenticator {
            users: users.0,
            decoy,
            cache: Mutex::new(HashMap::new()),
            gate: tokio::sync::Semaphore::new(1),
            verifications: AtomicUsize::new(0),
        })
    }

    /// True when the header carries the credentials of a configured user.
    pub async fn check(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(|v| parse_basic(v.as_bytes())) else {
            return false;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.decoy.clone(), false),
        };
        let key = cache_key(&user, &hash, &password);
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        // The semaphore is never closed; were it, refusing is the safe answer.
        let Ok(_permit) = self.gate.acquire().await else {
            return false;
        };
        // Another request may have verified the same credentials while this one waited.
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = matched && known;
        self.remember(key, ok);
        ok
    }

    /// How many bcrypt verifications ran (for tests of the cache).
    #[cfg(test)]
    fn verifications(&self) -> usize {
        self.verifications.load(Ordering::Relaxed)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(key).copied()
    }

    fn remember(&self, key: [u8; 32], ok: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY {
            let evict: Vec<[u8; 32]> = cache.keys().take(CACHE_CAPACITY / 10).copied().collect();
            for k in evict {
                cache.remove(&k);
            }
        }
        cache.insert(key, ok);
    }
}

/// SHA-256 over the length-prefixed user, hash and password: a key that identifies the
/// attempt without keeping the password.
fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// `Basic base64(user:password)` → (user, password). The scheme is case-insensitive (RFC 7617);
/// the user must be UTF-8 (it names a configured user), the password may be any bytes.
fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, credentials) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim_start())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[test]
    fn parse_basic_table() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        type Case<'a> = (String, Option<(&'a str, &'a [u8])>);
        let cases: Vec<Case> = vec![
            (
                format!("Basic {}", b64("alice:secret")),
                Some(("alice", b"secret")),
            ),
            (
                format!("basic {}", b64("alice:secret")),
                Some(("alice", b"secret")),
            ),
            (format!("BASIC  {}", b64("a:b:c")), Some(("a", b"b:c"))),
            (format!("Basic {}", b64("alice:")), Some(("alice", b""))),
            (format!("Basic {}", b64(":pw")), Some(("", b"pw"))),
            (format!("Basic {}", b64("no-colon")), None),
            (format!("Bearer {}", b64("alice:secret")), None),
            ("Basic !!!".to_owned(), None),
            ("Basic".to_owned(), None),
            (String::new(), None),
        ];
        for (input, want) in cases {
            let got = parse_basic(input.as_bytes());
            let want = want.map(|(u, p)| (u.to_owned(), p.to_vec()));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[tokio::test]
    async fn good_bad_unknown_and_missing_credentials() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let users = BasicAuthUsers(BTreeMap::from([("alice".to_owned(), hash)]));
        let auth = Authenticator::new(users).unwrap();
        let cases = [
            (Some(header("alice:secret")), true),
            (Some(header("alice:wrong")), false),
            (Some(header("bob:secret")), false),
            (Some(header("alice")), false),
            (Some(HeaderValue::from_static("Basic")), false),
            (None, false),
        ];
        for (value, want) in cases {
            assert_eq!(auth.check(value.as_ref()).await, want, "{value:?}");
        }
        // bcrypt ran for the three decodable attempts only.
        assert_eq!(auth.verifications(), 3);
    }

    #[tokio::test]
    async fn verdicts_are_cached() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let users = BasicAuthUsers(BTreeMap::from([("alice".to_owned(), hash)]));
        let auth = Authenticator::new(users).unwrap();
        for _ in 0..3 {
            assert!(auth.check(Some(&header("alice:secret"))).await);
            assert!(!auth.check(Some(&header("alice:wrong"))).await);
        }
        assert_eq!(auth.verifications(), 2);
    }

    #[test]
    fn no_users_means_no_authentication_and_hashes_stay_out_of_debug() {
        assert!(Authenticator::new(BasicAuthUsers::default()).is_none());
        let users = BasicAuthUsers(BTreeMap::from([(
            "alice".to_owned(),
            "$2y$10$x".to_owned(),
        )]));
        assert_eq!(format!("{users:?}"), "{\"alice\"}");
    }

    #[test]
    fn cache_stays_bounded() {
        let users = BasicAuthUsers(BTreeMap::from([("a".to_owned(), "h".to_owned())]));
        let auth = Authenticator::new(users).unwrap();
        for i in 0..(CACHE_CAPACITY * 3) {
            auth.remember(cache_key("a", "h", i.to_string().as_bytes()), false);
        }
        assert!(auth.cache.lock().unwrap().len() <= CACHE_CAPACITY);
    }
}
