//! API tokens: random 256-bit secrets shown once; the store keeps their
//! SHA-256 only.

use peregrine_store::{Role, Store, TokenRecord};
use sha2::{Digest, Sha256};

/// A new random token (`pg_` + 64 hex digits).
pub fn generate() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(format!("pg_{}", hex(&b)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a token, hex.
pub fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Create a token with `role` named `name` in `store`; returns the secret.
pub fn issue(store: &dyn Store, name: &str, role: Role) -> Result<String, String> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err("token names are 1..=128 printable characters".into());
    }
    let t = generate().map_err(|e| format!("reading /dev/urandom: {e}"))?;
    store
        .add_token(name, role, &digest(&t))
        .map_err(|e| e.to_string())?;
    Ok(t)
}

/// Look up the bearer token of an `Authorization` header value.
pub fn check(store: &dyn Store, header: Option<&str>) -> Result<TokenRecord, &'static str> {
    check_digest(store, header).map(|(t, _)| t)
}

/// [`check`], also returning the token's SHA-256 (hex).
pub fn check_digest(
    store: &dyn Store,
    header: Option<&str>,
) -> Result<(TokenRecord, String), &'static str> {
    let h = header.ok_or("missing Authorization: Bearer token")?;
    let t = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .ok_or("Authorization must be 'Bearer TOKEN'")?
        .trim();
    if t.is_empty() || t.len() > 256 {
        return Err("invalid token");
    }
    let d = digest(t);
    match store.token(&d) {
        Ok(Some(r)) => Ok((r, d)),
        Ok(None) => Err("invalid token"),
        Err(e) => {
            tracing::error!("token lookup: {e}");
            Err("token lookup failed")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_hashed() {
        let a = super::generate().unwrap();
        assert_ne!(a, super::generate().unwrap());
        assert_eq!(a.len(), 67);
        assert_eq!(super::digest("abc").len(), 64);
        assert_eq!(
            super::digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
