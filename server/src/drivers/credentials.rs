//! The secrets drivers sign in with: BMC passwords, PDU communities, ssh keys, cloud keys. Driver
//! settings name a credential (`"credentials": "bmc-lab1"`); the values come from the secrets file
//! (`[drivers] credentials_file`, TOML, one table per credential, refused if its group or others
//! may read it) or from `LOANER_SECRET__{NAME}__{FIELD}` variables (name in capitals, dashes as
//! underscores). Only the workers hold the values; the web side gets the names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use app::rules::validate;
use app::types::CredentialNames;
use serde::Deserialize;

use crate::config::Secret;

/// Environment variables holding credentials start with this.
pub const ENV_PREFIX: &str = "LOANER_SECRET__";

/// One credential: the fields its driver needs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// IPMI user, ssh user (overrides the settings' `user`).
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// SNMP write community.
    pub community: Option<Secret>,
    /// An ssh private key (OpenSSH format), inline…
    pub private_key: Option<Secret>,
    /// …or in a file of its own (also refused if others may read it).
    pub private_key_file: Option<PathBuf>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// The hosts (BMC, PDU, machine, cloud endpoint) this credential may be sent to: names or
    /// addresses, `*.lab.example.com` for a domain's hosts, `*` for any. Required: an admin who
    /// points a machine's settings at a host of their own must not receive the secret.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl Credential {
    /// Whether this credential may be sent to `host`.
    pub fn allows(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.hosts.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                _ if pattern == "*" => true,
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == pattern,
            }
        })
    }
}

/// Every credential the server knows, by name.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_name: BTreeMap<String, Credential>,
}

impl Credentials {
    /// Reads the secrets file (if any) and the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut by_name: BTreeMap<String, Credential> = BTreeMap::new();
        if let Some(path) = file {
            private_file(path, "credentials_file")?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the secrets file {}", path.display()))?;
            by_name = toml::from_str(&text).map_err(|e| {
                // The place only: toml's own message may quote the value found there.
                let line = e
                    .span()
                    .map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                anyhow::anyhow!(
                    "the secrets file {} is not valid at line {line}: each credential is a [name] table of username, password, community, private_key, private_key_file, access_key_id or secret_access_key (text)",
                    path.display(),
                )
            })?;
        }
        Self::add_env(&mut by_name, std::env::vars())?;
        for (name, credential) in &by_name {
            validate::credential_name(name).map_err(anyhow::Error::msg)?;
            if credential.hosts.is_empty() {
                bail!(
                    "the credential {name} lists no hosts it may be sent to: add hosts = [\"bmc-*.lab.example.com\", …] (or LOANER_SECRET__{}__HOSTS)",
                    name.to_ascii_uppercase().replace('-', "_")
                );
            }
            if let Some(key_file) = &credential.private_key_file {
                private_file(key_file, &format!("{name}.private_key_file"))?;
            }
        }
        Ok(Self { by_name })
    }

    fn add_env(
        by_name: &mut BTreeMap<String, Credential>,
        vars: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<()> {
        for (key, value) in vars {
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((name, field)) = rest.split_once("__") else {
                bail!("{key} is not LOANER_SECRET__NAME__FIELD");
            };
            let name = name.to_ascii_lowercase().replace('_', "-");
            let credential = by_name.entry(name).or_default();
            let secret = || Some(Secret(value.clone()));
            match field.to_ascii_lowercase().as_str() {
                "username" => credential.username = Some(value.clone()),
                "password" => credential.password = secret(),
                "community" => credential.community = secret(),
                "private_key" => credential.private_key = secret(),
                "private_key_file" => credential.private_key_file = Some(value.clone().into()),
                "access_key_id" => credential.access_key_id = Some(value.clone()),
                "secret_access_key" => credential.secret_access_key = secret(),
                "hosts" => {
                    credential.hosts = value
                        .split(',')
                        .map(|h| h.trim().to_owned())
                        .filter(|h| !h.is_empty())
                        .collect();
                }
                other => bail!(
                    "{key}: a credential has no field \"{other}\" (username, password, community, private_key, private_key_file, access_key_id, secret_access_key)"
                ),
            }
        }
        Ok(())
    }

    pub fn names(&self) -> CredentialNames {
        self.by_name.keys().cloned().collect()
    }

    /// The credential `name`, for the setting `field` that names it, to be sent to `host`.
    pub fn get(&self, field: &str, name: Option<&str>, host: &str) -> Result<&Credential, String> {
        let name = name.ok_or_else(|| format!("{field} is not set"))?;
        let credential = self.by_name.get(name).ok_or_else(|| {
            format!("{field} names \"{name}\", which is not among the server's credentials")
        })?;
        if credential.allows(host) {
            Ok(credential)
        } else {
            Err(format!(
                "{field}: the credential \"{name}\" may not be sent to {host} (its hosts in the secrets file: {}); nothing was sent",
                credential.hosts.join(", ")
            ))
        }
    }

    #[cfg(test)]
    fn from_env(vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut by_name = BTreeMap::new();
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Self::add_env(&mut by_name, vars)?;
        Ok(Self { by_name })
    }
}

/// Refuses a file that its group or others may read or write.
fn private_file(path: &Path, setting: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{setting}: {} may be read by others (mode {mode:o}); allow only its owner (chmod 600)",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secrets_file_others_may_read_is_refused_and_its_values_never_appear_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.toml");
        std::fs::write(
            &path,
            "[bmc-lab1]\nusername = \"admin\"\npassword = \"hunter2-bmc\"\nhosts = [\"*.lab.example.com\"]\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credentials::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let loaded = Credentials::load(Some(&path)).unwrap();
        let no_hosts = dir.path().join("no-hosts.toml");
        std::fs::write(&no_hosts, "[pdu-a]\ncommunity = \"x\"\n").unwrap();
        std::fs::set_permissions(&no_hosts, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Credentials::load(Some(&no_hosts)).unwrap_err().to_string();
        assert!(err.contains("lists no hosts"), "{err}");
        assert_eq!(
            loaded.names(),
            ["bmc-lab1".to_owned()].into_iter().collect()
        );
        let bmc = loaded
            .get(
                "ipmi.credentials",
                Some("bmc-lab1"),
                "bmc-07.lab.example.com",
            )
            .unwrap();
        assert_eq!(bmc.password.as_ref().unwrap().0, "hunter2-bmc");
        // An admin pointing the setting at a host of their own gets nothing sent there.
        for elsewhere in [
            "evil.example.net",
            "lab.example.com.evil.net",
            "xlab.example.com",
        ] {
            let err = loaded
                .get("ipmi.credentials", Some("bmc-lab1"), elsewhere)
                .unwrap_err();
            assert!(
                err.contains("may not be sent to") && !err.contains("hunter2"),
                "{err}"
            );
        }
        assert!(!format!("{loaded:?}").contains("hunter2"));

        std::fs::write(&path, "[bmc-lab1]\npasword = \"hunter2-bmc\"\n").unwrap();
        let err = Credentials::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("line 2") && !err.contains("hunter2"), "{err}");
        // A value where a table belongs: toml would quote it.
        std::fs::write(
            &path,
            "password = \"hunter2-bmc\"\n[pdu]\ncommunity = 1234\n",
        )
        .unwrap();
        let err = Credentials::load(Some(&path)).unwrap_err().to_string();
        assert!(!err.contains("hunter2") && !err.contains("1234"), "{err}");
    }

    #[test]
    fn credentials_come_from_the_environment_too() {
        let creds = Credentials::from_env(&[
            ("LOANER_SECRET__PDU_RACK4__COMMUNITY", "private-pdu"),
            (
                "LOANER_SECRET__PDU_RACK4__HOSTS",
                "pdu-r4.example.com, 10.0.0.4",
            ),
            ("LOANER_SECRET__AWS_LAB__ACCESS_KEY_ID", "AKIA1"),
            ("LOANER_SECRET__AWS_LAB__SECRET_ACCESS_KEY", "s3cret"),
            ("LOANER_OTHER", "x"),
        ])
        .unwrap();
        let names: Vec<String> = creds.names().into_iter().collect();
        assert_eq!(names, ["aws-lab", "pdu-rack4"]);
        let err = creds
            .get("snmp_pdu.credentials", Some("pdu-rack5"), "10.0.0.4")
            .unwrap_err();
        assert!(err.contains("snmp_pdu.credentials") && err.contains("pdu-rack5"));
        assert!(creds
            .get("snmp_pdu.credentials", Some("pdu-rack4"), "10.0.0.4")
            .is_ok());
        assert!(creds
            .get("snmp_pdu.credentials", Some("pdu-rack4"), "10.0.0.5")
            .is_err());
        let err = Credentials::from_env(&[("LOANER_SECRET__X__PIN", "1")]).unwrap_err();
        assert!(err.to_string().contains("no field \"pin\""));
    }
}
