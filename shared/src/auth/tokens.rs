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
}
