//! The deployment's keys, each with an id, and sealing of data at rest (AES-256-GCM).
//!
//! Two rings, newest key first: token-signing keys (`TOKEN_KEYS`) and data-encryption keys
//! (`DATA_KEYS`). The newest of a ring signs or seals; older ones only verify or open, so a
//! key can be rotated without anything becoming unreadable:
//! - an access token carries its key's id (`kid`); a token signed with an older key verifies
//!   only within [`Keys::retired_token_keys_verify_until`], after which it answers 401 and the
//!   client refreshes (refresh tokens are opaque and stored hashed: no key signs them);
//! - a sealed value records its key's id; any key of the ring opens it, and the re-seal job
//!   moves old values to the newest key, after which older data keys can be dropped.
//!
//! Each configured secret is high-entropy text; HKDF-SHA256 derives the key actually used, per
//! use, so a token key's secret never doubles as an encryption key. `SECRET_KEY`, the single
//! secret of earlier versions, is key [`FIRST_KEY_ID`] of both rings: what it signed and sealed
//! (v1 values carry no key id) stays readable.
//!
//! A sealed value is `2 || id length (1) || id || nonce (12) || ciphertext+tag` (v1:
//! `1 || nonce || ciphertext+tag`, sealed by [`FIRST_KEY_ID`]), and is bound to its owner (for
//! example the user id) as associated data, so it cannot be copied onto another row.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const SEALED_V1: u8 = 1;
const SEALED_V2: u8 = 2;
const NONCE_LEN: usize = 12;

/// The id `SECRET_KEY` has in both rings, and the key of every v1 sealed value.
pub const FIRST_KEY_ID: &str = "k0";

/// The longest key id (it is stored in every sealed value).
pub const MAX_KEY_ID_LEN: usize = 32;

struct TokenKey {
    id: String,
    jwt: [u8; 32],
    successor: [u8; 32],
}

struct DataKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The keys of this deployment. Debug output shows the key ids, never the keys.
pub struct Keys {
    tokens: Vec<TokenKey>,
    data: Vec<DataKey>,
    /// Unix seconds until which the token keys after the first still verify.
    retired_verify_until: i64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = |ids: Vec<&str>| ids.join(",");
        f.debug_struct("Keys")
            .field(
                "tokens",
                &ids(self.tokens.iter().map(|k| k.id.as_str()).collect()),
            )
            .field(
                "data",
                &ids(self.data.iter().map(|k| k.id.as_str()).collect()),
            )
            .finish_non_exhaustive()
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Sealed by a key this ring does not hold (yet: another instance may have newer keys).
    #[error("sealed with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("sealed data is corrupt or was sealed for another owner")]
    Corrupt,
}

/// What a token's key id finds in the ring.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenKeyFor<'a> {
    Key(&'a [u8]),
    /// The key is in the ring but retired, and its window has ended.
    Retired,
    /// No key of the ring has this id.
    Unknown,
}

fn derive(secret: &SecretString, info: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"stockroom"), secret.expose_secret().as_bytes());
    let mut out = [0u8; 32];
    // 32-byte outputs are far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    hk.expand(info, &mut out).expect("valid HKDF output length");
    out
}

impl Keys {
    /// Both rings from one secret, as [`FIRST_KEY_ID`] (what `SECRET_KEY` alone configures).
    pub fn derive(secret_key: &SecretString) -> Self {
        let ring = vec![(FIRST_KEY_ID.to_owned(), secret_key.clone())];
        Self::new(&ring, &ring, 0)
    }

    /// The rings, newest first (neither may be empty). Token keys after the first verify until
    /// `retired_verify_until` (Unix seconds).
    pub fn new(
        tokens: &[(String, SecretString)],
        data: &[(String, SecretString)],
        retired_verify_until: i64,
    ) -> Self {
        assert!(
            !tokens.is_empty() && !data.is_empty(),
            "a key ring is empty"
        );
        Self {
            tokens: tokens
                .iter()
                .map(|(id, secret)| TokenKey {
                    id: id.clone(),
                    jwt: derive(secret, b"jwt-hs256-v1"),
                    successor: derive(secret, b"refresh-successor-hmac-v1"),
                })
                .collect(),
            data: data
                .iter()
                .map(|(id, secret)| DataKey {
                    id: id.clone(),
                    cipher: Aes256Gcm::new(&derive(secret, b"data-aes256gcm-v1").into()),
                })
                .collect(),
            retired_verify_until,
        }
    }

    /// Unix seconds until which tokens signed by an older token key still verify.
    pub fn retired_token_keys_verify_until(&self) -> i64 {
        self.retired_verify_until
    }

    /// The id and HS256 key that sign new access tokens.
    pub fn signing_key(&self) -> (&str, &[u8]) {
        let newest = &self.tokens[0];
        (&newest.id, &newest.jwt)
    }

    /// The key that verifies a token signed by key `kid` at Unix time `now`. A token without a
    /// `kid` was signed by `SECRET_KEY` before keys had ids.
    pub fn verifying_key(&self, kid: Option<&str>, now: i64) -> TokenKeyFor<'_> {
        let kid = kid.unwrap_or(FIRST_KEY_ID);
        match self.tokens.iter().position(|k| k.id == kid) {
            None => TokenKeyFor::Unknown,
            Some(0) => TokenKeyFor::Key(&self.tokens[0].jwt),
            Some(_) if now > self.retired_verify_until => TokenKeyFor::Retired,
            Some(i) => TokenKeyFor::Key(&self.tokens[i].jwt),
        }
    }

    /// The 32 bytes a rotated refresh token's successor is made of: HMAC-SHA256 of the old token
    /// under the newest token key's successor key, so presenting the old token again yields the
    /// same successor without any plaintext token being stored.
    pub fn successor_of(&self, token: &str) -> [u8; 32] {
        successor_under(&self.tokens[0].successor, token)
    }

    /// The successors of `token` under every token key, newest first: a retry of a refresh
    /// that a key rotation overtook finds the successor the older key made.
    pub fn successors_of(&self, token: &str) -> Vec<[u8; 32]> {
        self.tokens
            .iter()
            .map(|k| successor_under(&k.successor, token))
            .collect()
    }

    /// Encrypts `plaintext` with the newest data key, bound to `owner` (authenticated, not
    /// encrypted).
    pub fn seal(&self, plaintext: &[u8], owner: &[u8]) -> Vec<u8> {
        let key = &self.data[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: owner,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut sealed = self.current_seal_prefix();
        sealed.reserve(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// The bytes every value sealed by the newest data key begins with (the re-seal job skips
    /// those in SQL).
    pub fn current_seal_prefix(&self) -> Vec<u8> {
        let id = self.data[0].id.as_bytes();
        let mut prefix = Vec::with_capacity(2 + id.len());
        prefix.push(SEALED_V2);
        prefix.push(id.len() as u8); // ids are at most MAX_KEY_ID_LEN bytes (checked in config)
        prefix.extend_from_slice(id);
        prefix
    }

    /// Decrypts what [`Keys::seal`] produced for the same `owner`, with whichever key of the
    /// ring sealed it.
    pub fn open(&self, sealed: &[u8], owner: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (id, rest) = split_sealed(sealed).ok_or(OpenError::Corrupt)?;
        let key = self
            .data
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner,
                },
            )
            .map_err(|_| OpenError::Corrupt)
    }

    /// `sealed` sealed anew with the newest data key, or `None` when it already is.
    pub fn reseal(&self, sealed: &[u8], owner: &[u8]) -> Result<Option<Vec<u8>>, OpenError> {
        if sealed.starts_with(&self.current_seal_prefix()) {
            return Ok(None);
        }
        Ok(Some(self.seal(&self.open(sealed, owner)?, owner)))
    }

    /// The id of the key that sealed `sealed`, if it is well formed.
    pub fn sealed_by(sealed: &[u8]) -> Option<&str> {
        split_sealed(sealed).map(|(id, _)| id)
    }
}

/// The key id of a sealed value and what follows it (nonce and ciphertext, at least a nonce
/// and one byte).
fn split_sealed(sealed: &[u8]) -> Option<(&str, &[u8])> {
    let (id, rest) = match sealed {
        [SEALED_V1, rest @ ..] => (FIRST_KEY_ID, rest),
        [SEALED_V2, len, rest @ ..] if rest.len() > usize::from(*len) => {
            let (id, rest) = rest.split_at(usize::from(*len));
            (std::str::from_utf8(id).ok()?, rest)
        }
        _ => return None,
    };
    (rest.len() > NONCE_LEN).then_some((id, rest))
}

fn successor_under(key: &[u8; 32], token: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn keys(text: &str) -> Keys {
        Keys::derive(&secret(text))
    }

    fn ring(ids: &[(&str, &str)]) -> Vec<(String, SecretString)> {
        ids.iter()
            .map(|(id, text)| (id.to_string(), secret(text)))
            .collect()
    }

    const A: &str = "a-long-test-secret-key-of-at-least-32-chars";
    const B: &str = "another-long-test-secret-key-of-32-chars!";

    #[test]
    fn sealed_data_opens_for_its_owner_only() {
        let k = keys(A);
        let sealed = k.seal(b"JBSWY3DPEHPK3PXP", b"user-1");
        assert_eq!(k.open(&sealed, b"user-1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(matches!(
            k.open(&sealed, b"user-2"),
            Err(OpenError::Corrupt)
        ));
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
        assert_eq!(Keys::sealed_by(&sealed), Some(FIRST_KEY_ID));
    }

    #[test]
    fn another_key_under_the_same_id_cannot_open_it() {
        let sealed = keys(A).seal(b"x", b"o");
        assert!(matches!(
            keys(B).open(&sealed, b"o"),
            Err(OpenError::Corrupt)
        ));
    }

    #[test]
    fn a_v1_value_opens_with_the_first_key() {
        // v1 as earlier versions sealed it: no key id, SECRET_KEY's data key.
        let cipher = Aes256Gcm::new(&derive(&secret(A), b"data-aes256gcm-v1").into());
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut v1 = vec![SEALED_V1];
        v1.extend_from_slice(&nonce);
        v1.extend_from_slice(
            &cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: b"old",
                        aad: b"o",
                    },
                )
                .unwrap(),
        );
        let rotated = Keys::new(&ring(&[("t1", B)]), &ring(&[("d1", B), ("k0", A)]), 0);
        assert_eq!(rotated.open(&v1, b"o").unwrap(), b"old");
        let resealed = rotated.reseal(&v1, b"o").unwrap().unwrap();
        assert_eq!(Keys::sealed_by(&resealed), Some("d1"));
        assert_eq!(rotated.reseal(&resealed, b"o").unwrap(), None);
        let without_k0 = Keys::new(&ring(&[("t1", B)]), &ring(&[("d1", B)]), 0);
        assert!(matches!(without_k0.open(&v1, b"o"), Err(OpenError::UnknownKey(id)) if id == "k0"));
        assert_eq!(without_k0.open(&resealed, b"o").unwrap(), b"old");
    }

    #[test]
    fn the_newest_data_key_seals_and_any_opens() {
        let old = Keys::new(&ring(&[("t1", A)]), &ring(&[("d1", A)]), 0);
        let new = Keys::new(&ring(&[("t1", A)]), &ring(&[("d2", B), ("d1", A)]), 0);
        let sealed_old = old.seal(b"x", b"o");
        let sealed_new = new.seal(b"y", b"o");
        assert_eq!(new.open(&sealed_old, b"o").unwrap(), b"x");
        assert_eq!(Keys::sealed_by(&sealed_new), Some("d2"));
        assert!(
            matches!(old.open(&sealed_new, b"o"), Err(OpenError::UnknownKey(id)) if id == "d2")
        );
        assert!(sealed_new.starts_with(&new.current_seal_prefix()));
    }

    #[test]
    fn malformed_sealed_values_are_corrupt() {
        let k = keys(A);
        for bad in [
            &b""[..],
            &[9, 1, 2],
            &[2, 40, b'x'],
            &[1; 12],
            &[2, 1, b'x', 0, 0],
        ] {
            assert!(
                matches!(k.open(bad, b"o"), Err(OpenError::Corrupt)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn retired_token_keys_verify_only_within_their_window() {
        let k = Keys::new(&ring(&[("t2", B), ("t1", A)]), &ring(&[("d1", A)]), 1_000);
        assert_eq!(k.signing_key().0, "t2");
        assert!(matches!(
            k.verifying_key(Some("t2"), 5_000),
            TokenKeyFor::Key(_)
        ));
        assert!(matches!(
            k.verifying_key(Some("t1"), 1_000),
            TokenKeyFor::Key(_)
        ));
        assert_eq!(k.verifying_key(Some("t1"), 1_001), TokenKeyFor::Retired);
        assert_eq!(k.verifying_key(Some("t9"), 0), TokenKeyFor::Unknown);
        assert_eq!(k.verifying_key(None, 0), TokenKeyFor::Unknown);
        assert_eq!(k.successors_of("rt_x").len(), 2);
        assert_eq!(k.successors_of("rt_x")[0], k.successor_of("rt_x"));
    }

    #[test]
    fn the_derived_keys_differ_and_stay_out_of_debug_output() {
        let k = keys(A);
        assert_ne!(k.signing_key().1, &derive(&secret(A), b"data-aes256gcm-v1"));
        assert_eq!(k.signing_key().1.len(), 32);
        let shown = format!("{k:?}");
        assert!(shown.contains("k0") && !shown.contains(&format!("{:?}", k.signing_key().1)));
    }
}
