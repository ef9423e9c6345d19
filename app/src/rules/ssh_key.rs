//! SSH public keys people paste: parsed as OpenSSH writes them, weak or odd ones refused.

const MAX_SSH_KEY_CHARS: usize = 16 * 1024;
const MIN_RSA_BITS: usize = 2048;

/// A valid SSH public key, as OpenSSH writes it in a `.pub` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshPublicKey {
    /// The key normalised to one `authorized_keys` line: `algorithm base64 [comment]`.
    pub line: String,
    pub comment: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// The characters a key's comment may have: it ends up in `authorized_keys` files and in the
/// environment of site scripts, where anything else could be read as something more.
fn is_safe_comment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" ._@+-=:,/()".contains(&b)
}

/// Parses an OpenSSH public key and refuses weak or unsupported ones.
pub fn ssh_public_key(input: &str) -> Result<SshPublicKey, String> {
    use ssh_key::{public::KeyData, HashAlg, PublicKey};

    let text = input.trim();
    if text.is_empty() {
        return Err("Paste your SSH public key (the contents of ~/.ssh/id_ed25519.pub).".into());
    }
    if text.contains("PRIVATE KEY") {
        return Err(
            "That is a private key: never share it. Paste the public key (the .pub file) instead."
                .into(),
        );
    }
    if text.len() > MAX_SSH_KEY_CHARS {
        return Err("That is too long to be an SSH public key.".into());
    }
    if text.lines().count() > 1 {
        return Err("Paste exactly one public key, on one line.".into());
    }
    let key = PublicKey::from_openssh(text).map_err(|_| {
        "That is not an OpenSSH public key. It should look like \"ssh-ed25519 AAAAC3Nza… you@host\"."
            .to_owned()
    })?;
    match key.key_data() {
        KeyData::Ed25519(_)
        | KeyData::Ecdsa(_)
        | KeyData::SkEd25519(_)
        | KeyData::SkEcdsaSha2NistP256(_) => {}
        KeyData::Rsa(rsa) => {
            let bits = rsa
                .n
                .as_positive_bytes()
                .map(|bytes| {
                    let leading = bytes.first().map_or(8, |b| b.leading_zeros() as usize);
                    bytes.len() * 8 - leading
                })
                .unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "This RSA key has {bits} bits; use at least {MIN_RSA_BITS}, or better an Ed25519 key."
                ));
            }
        }
        _ => {
            return Err(format!(
                "Keys of type {} are not accepted; use Ed25519, ECDSA or RSA.",
                key.algorithm().as_str()
            ))
        }
    }
    let comment = key.comment();
    if comment.len() > 100 || !comment.bytes().all(is_safe_comment_byte) {
        return Err("The key's comment (the part after the key) may use only letters, digits, spaces and . _ @ + - = : , / ( ) — edit it or leave it out.".into());
    }
    let line = key
        .to_openssh()
        .map_err(|_| "That SSH public key could not be read back.".to_owned())?;
    Ok(SshPublicKey {
        line,
        comment: key.comment().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC ada@laptop";

    #[test]
    fn an_ed25519_key_is_accepted() {
        let key = ssh_public_key(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(key.line, ED25519);
        assert_eq!(key.comment, "ada@laptop");
        assert!(key.fingerprint.starts_with("SHA256:"));
    }

    #[test]
    fn garbage_and_private_keys_are_refused() {
        assert!(ssh_public_key("").is_err());
        assert!(ssh_public_key("ssh-ed25519 notbase64 x").is_err());
        assert!(ssh_public_key("hello world").is_err());
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        assert!(ssh_public_key(private).unwrap_err().contains("private key"));
        assert!(ssh_public_key(&format!("{ED25519}\n{ED25519}")).is_err());
    }

    #[test]
    fn short_rsa_keys_are_refused() {
        // A 1024-bit RSA key.
        let rsa1024 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDlmoPQ8bMnGEwI5k0lfHQZ7DJMNIl4ukQ2B4znrrRz1Fw83Hb3MFY7UlIqcDMR3i8hsm8lFDUYnDMM8C4mtbzeBeZ0uTNTB/q/p8uEnrfWmNiXwVzxgvM0gRx9BkQjqNBmKlwc7t0GKL9uH6j78CyFrf6I8/x0g4uFyWLYpCTPlQ== old@box";
        let err = ssh_public_key(rsa1024).unwrap_err();
        assert!(err.contains("1024 bits"), "{err}");
    }

    #[test]
    fn key_comments_keep_to_a_safe_set_of_characters() {
        let key = ED25519.trim_end_matches("ada@laptop");
        assert!(ssh_public_key(&format!("{key}Ada Lovelace (laptop) 2026-11")).is_ok());
        for bad in ["ada`reboot`", "a$(id)", "x;rm -rf", "quote'd", "new\\nline"] {
            let err = ssh_public_key(&format!("{key}{bad}")).unwrap_err();
            assert!(err.contains("comment"), "{bad}: {err}");
        }
    }
}
