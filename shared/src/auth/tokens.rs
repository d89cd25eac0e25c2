//! Opaque tokens (refresh, MFA challenge, password reset, invitation, recovery codes): random,
//! shown once, stored only as SHA-256 hashes. They carry 256 bits of entropy, so a fast hash
//! is enough; what matters is that a database leak does not leak usable tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new token `"<prefix>_<43 base64url chars>"` and the hash to store.
pub fn generate(prefix: &str) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&token);
    (token, hash)
}

/// The successor of a rotated token: `"<prefix>_<43 base64url chars>"` like [`generate`]'s, but
/// derived from the old token (see [`crate::crypto::Keys::successor_of`]), and its hash.
pub fn successor(keys: &crate::crypto::Keys, prefix: &str, old: &str) -> (String, Vec<u8>) {
    let token = format!(
        "{prefix}_{}",
        URL_SAFE_NO_PAD.encode(keys.successor_of(old))
    );
    let hash = hash(&token);
    (token, hash)
}

/// [`successor`] under every token key, newest first.
pub fn successors(keys: &crate::crypto::Keys, prefix: &str, old: &str) -> Vec<(String, Vec<u8>)> {
    keys.successors_of(old)
        .into_iter()
        .map(|bytes| {
            let token = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes));
            let hash = hash(&token);
            (token, hash)
        })
        .collect()
}

/// The stored form of a token.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let (a, hash_a) = super::generate("rt");
        let (b, _) = super::generate("rt");
        assert_ne!(a, b);
        assert!(a.starts_with("rt_") && a.len() == 46, "{a}");
        assert_eq!(super::hash(&a), hash_a);
    }

    #[test]
    fn a_successor_is_fixed_by_its_predecessor_and_the_key() {
        use secrecy::SecretString;
        let keys = |k: &str| crate::crypto::Keys::derive(&SecretString::from(k.to_owned()));
        let (one, two) = (keys(&"a".repeat(40)), keys(&"b".repeat(40)));
        let (next, hash) = super::successor(&one, "rt", "rt_old");
        assert_eq!(super::successor(&one, "rt", "rt_old"), (next.clone(), hash));
        assert!(next.starts_with("rt_") && next.len() == 46, "{next}");
        assert_ne!(super::successor(&one, "rt", "rt_other").0, next);
        assert_ne!(super::successor(&two, "rt", "rt_old").0, next);
    }
}
