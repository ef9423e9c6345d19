//! What each hardware driver needs to know about a machine, as pools and machines write it in
//! their driver settings (a JSON object). A section per driver (`ssh`, `ipmi`, `snmp_pdu`,
//! `aws_ec2`); a pool's section gives the defaults and a machine's section overrides them field
//! by field, so a pool says which credential its BMCs use and each machine says where its BMC is.
//! Secrets are never here: a section names a credential (`"credentials": "bmc-lab1"`) from the
//! server's secrets file.

use serde::{Deserialize, Serialize};

use super::{Action, DriverKind};

/// The names of the credentials in the server's secrets (never the secrets themselves): what the
/// web side checks settings against.
pub type CredentialNames = std::collections::BTreeSet<String>;

/// `ssh`: acts through the machine's own sshd, with two keys of Loaner's. The power key is
/// limited on the machine by a forced command (`command="…"` in `authorized_keys`) that answers
/// `status` (printing the boot id), `reboot` and `poweroff`; the key-management key adds and
/// removes borrowers' keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Defaults to the machine's name.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Who Loaner signs in as (default `root`).
    pub user: Option<String>,
    /// The key-management key.
    pub credentials: Option<String>,
    /// The key limited to the power script (defaults to `credentials`).
    pub power_credentials: Option<String>,
    /// The borrower's `authorized_keys` on the machine; defaults to
    /// `~LOGIN_USER/.ssh/authorized_keys` for the pool's login user.
    pub authorized_keys: Option<String>,
    /// Seconds to wait after asking for a reboot before looking for the machine again.
    pub settle_secs: Option<u32>,
    /// Seconds a reboot may take before it counts as failed.
    pub ready_timeout_secs: Option<u32>,
    /// For a re-image check: a command run with the key-management key whose output must
    /// contain `image_expect`.
    pub image_command: Option<String>,
    /// What that output must contain; defaults to the pool's image name.
    pub image_expect: Option<String>,
}

/// `ipmi`: the machine's BMC through `ipmitool` (IPMI v2 lanplus).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiSettings {
    /// The BMC's address (required, usually per machine).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// A credential with `username` and `password`.
    pub credentials: Option<String>,
    /// The cipher suite (`-C`); 3 (the default) is what most BMCs offer.
    pub cipher_suite: Option<u8>,
    /// Seconds a power change may take to read back.
    pub ready_timeout_secs: Option<u32>,
}

/// `snmp_pdu`: one outlet of a switched PDU through SNMP v2c (`snmpset`/`snmpget`). The
/// defaults are APC's `sPDUOutletCtl` table: 1 on, 2 off, 3 reboot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpPduSettings {
    /// The PDU's address (required).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The outlet the machine is plugged into (required, per machine).
    pub outlet: Option<u32>,
    /// A credential with `community` (the write community).
    pub credentials: Option<String>,
    /// The control column's OID, without the outlet number.
    pub control_oid: Option<String>,
    pub on_value: Option<i64>,
    pub off_value: Option<i64>,
    /// The value that power-cycles the outlet; without one a reboot is off, a pause, on.
    pub reboot_value: Option<i64>,
    /// Seconds an outlet stays off during a reboot done as off then on.
    pub off_secs: Option<u32>,
}

/// `aws_ec2`: an instance of an EC2-compatible cloud.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsEc2Settings {
    /// Defaults to `https://ec2.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The machine's instance (per machine; a re-image replaces it and records the new one).
    pub instance_id: Option<String>,
    /// The image a re-image starts from (usually per pool).
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    pub subnet_id: Option<String>,
    pub key_name: Option<String>,
    /// A credential with `access_key_id` and `secret_access_key`.
    pub credentials: Option<String>,
    /// Seconds an instance may take to reach the state asked for.
    pub ready_timeout_secs: Option<u32>,
}

/// The settings of one machine: its pool's, with its own on top.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDrivers {
    pub ssh: Option<SshSettings>,
    pub ipmi: Option<IpmiSettings>,
    pub snmp_pdu: Option<SnmpPduSettings>,
    pub aws_ec2: Option<AwsEc2Settings>,
    /// The order a reboot with the `auto` driver tries the ways configured above.
    pub reboot_order: Option<Vec<DriverKind>>,
    /// A step a health check runs after the driver's status (a `status` step: a site script,
    /// or ssh), e.g. `{"name": "Disk and services", "action": "status", "command": "check.sh"}`.
    pub health_check: Option<super::Step>,
}

/// The sections driver settings may hold besides `env`.
pub const DRIVER_SECTIONS: [&str; 6] = [
    "ssh",
    "ipmi",
    "snmp_pdu",
    "aws_ec2",
    "reboot_order",
    "health_check",
];

impl MachineDrivers {
    /// Reads one settings object; `Err` names the section and what is wrong with it.
    pub fn parse(settings: &serde_json::Value) -> Result<Self, String> {
        let mut picked = serde_json::Map::new();
        if let Some(object) = settings.as_object() {
            for key in DRIVER_SECTIONS {
                if let Some(value) = object.get(key) {
                    picked.insert(key.to_owned(), value.clone());
                }
            }
        }
        serde_json::from_value(serde_json::Value::Object(picked.clone())).map_err(|e| {
            let section = picked
                .keys()
                .find(|k| {
                    serde_json::from_value::<MachineDrivers>(serde_json::json!({
                        k.as_str(): picked[k.as_str()].clone()
                    }))
                    .is_err()
                })
                .cloned()
                .unwrap_or_default();
            format!("The \"{section}\" settings are not valid: {e}.")
        })
    }

    /// A machine's settings: the pool's, overridden field by field by the machine's.
    pub fn merged(pool: &serde_json::Value, machine: &serde_json::Value) -> Result<Self, String> {
        let mut merged = serde_json::Map::new();
        for settings in [pool, machine] {
            let Some(object) = settings.as_object() else {
                continue;
            };
            for key in DRIVER_SECTIONS {
                let Some(value) = object.get(key) else {
                    continue;
                };
                match (merged.get_mut(key), value) {
                    (Some(serde_json::Value::Object(into)), serde_json::Value::Object(from)) => {
                        for (k, v) in from {
                            into.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {
                        merged.insert(key.to_owned(), value.clone());
                    }
                }
            }
        }
        Self::parse(&serde_json::Value::Object(merged))
    }

    /// Whether the settings hold a section for `kind`.
    pub fn has(&self, kind: DriverKind) -> bool {
        match kind {
            DriverKind::Ssh => self.ssh.is_some(),
            DriverKind::Ipmi => self.ipmi.is_some(),
            DriverKind::SnmpPdu => self.snmp_pdu.is_some(),
            DriverKind::AwsEc2 => self.aws_ec2.is_some(),
            DriverKind::Command | DriverKind::Manual | DriverKind::Auto => false,
        }
    }

    /// The ways a reboot is tried, in order: `reboot_order` or ssh, IPMI, PDU, EC2, keeping
    /// those configured.
    pub fn reboot_ways(&self) -> Vec<DriverKind> {
        let order = self.reboot_order.clone().unwrap_or_else(|| {
            vec![
                DriverKind::Ssh,
                DriverKind::Ipmi,
                DriverKind::SnmpPdu,
                DriverKind::AwsEc2,
            ]
        });
        order.into_iter().filter(|k| self.has(*k)).collect()
    }

    /// Every credential name the settings use, with the field that names it.
    pub fn credential_names(&self) -> Vec<(&'static str, &str)> {
        let mut names = Vec::new();
        if let Some(ssh) = &self.ssh {
            names.extend(ssh.credentials.as_deref().map(|n| ("ssh.credentials", n)));
            names.extend(
                ssh.power_credentials
                    .as_deref()
                    .map(|n| ("ssh.power_credentials", n)),
            );
        }
        if let Some(ipmi) = &self.ipmi {
            names.extend(ipmi.credentials.as_deref().map(|n| ("ipmi.credentials", n)));
        }
        if let Some(pdu) = &self.snmp_pdu {
            names.extend(
                pdu.credentials
                    .as_deref()
                    .map(|n| ("snmp_pdu.credentials", n)),
            );
        }
        if let Some(ec2) = &self.aws_ec2 {
            names.extend(
                ec2.credentials
                    .as_deref()
                    .map(|n| ("aws_ec2.credentials", n)),
            );
        }
        names
    }
}

impl DriverKind {
    /// The actions this driver can perform; `None` for drivers that run anything the site
    /// scripts or admins do (`command`, `manual`).
    pub fn supported_actions(self) -> Option<&'static [Action]> {
        use Action::*;
        match self {
            Self::Command | Self::Manual => None,
            Self::Ssh => Some(&[Status, PowerOff, Reboot, GrantAccess, RevokeAccess]),
            Self::Ipmi => Some(&[Status, PowerOn, PowerOff, Reboot, Reimage]),
            Self::SnmpPdu => Some(&[Status, PowerOn, PowerOff, Reboot]),
            Self::AwsEc2 => Some(&[Status, PowerOn, PowerOff, Reboot, Reimage]),
            Self::Auto => Some(&[Reboot]),
        }
    }

    /// The hardware drivers, which need a section in the driver settings.
    pub const HARDWARE: [DriverKind; 4] = [
        DriverKind::Ssh,
        DriverKind::Ipmi,
        DriverKind::SnmpPdu,
        DriverKind::AwsEc2,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_machine_overrides_its_pools_settings_field_by_field() {
        let pool = json!({"ipmi": {"credentials": "bmc-lab1", "cipher_suite": 17}, "env": {}});
        let machine = json!({"ipmi": {"host": "bmc-07", "cipher_suite": 3}});
        let merged = MachineDrivers::merged(&pool, &machine).unwrap();
        let ipmi = merged.ipmi.unwrap();
        assert_eq!(ipmi.host.as_deref(), Some("bmc-07"));
        assert_eq!(ipmi.credentials.as_deref(), Some("bmc-lab1"));
        assert_eq!(ipmi.cipher_suite, Some(3));
    }

    #[test]
    fn a_reboot_tries_the_configured_ways_in_order() {
        let both = MachineDrivers::parse(&json!({"ipmi": {}, "snmp_pdu": {}})).unwrap();
        assert_eq!(
            both.reboot_ways(),
            vec![DriverKind::Ipmi, DriverKind::SnmpPdu]
        );
        let ordered = MachineDrivers::parse(
            &json!({"ipmi": {}, "snmp_pdu": {}, "reboot_order": ["snmp_pdu", "ssh", "ipmi"]}),
        )
        .unwrap();
        assert_eq!(
            ordered.reboot_ways(),
            vec![DriverKind::SnmpPdu, DriverKind::Ipmi]
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_section() {
        let err = MachineDrivers::parse(&json!({"ipmi": {"hots": "x"}})).unwrap_err();
        assert!(err.contains("\"ipmi\"") && err.contains("hots"), "{err}");
        let err = MachineDrivers::parse(&json!({"snmp_pdu": {"outlet": "four"}})).unwrap_err();
        assert!(err.contains("snmp_pdu"), "{err}");
    }
}
