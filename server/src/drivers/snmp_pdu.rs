//! The `snmp_pdu` driver: the machine's outlet on a switched PDU, through Net-SNMP's `snmpget`
//! and `snmpset` (SNMP v2c). The community goes in a private `snmp.conf` (`SNMPCONFPATH`), never
//! on the command line. The defaults are APC's outlet control column
//! (`sPDUOutletCtl`, .1.3.6.1.4.1.318.1.1.4.4.2.1.3.N: 1 on, 2 off, 3 reboot); other models set
//! `control_oid` and the values. Every change is read back.

use std::sync::Arc;
use std::time::Duration;

use app::types::{Action, DriverKind, SnmpPduSettings, Step};

use super::tool::{poll_until, Call, PrivateDir};
use super::{ActionOutput, Driver, DriverError, Hardware, Target};

/// APC's `sPDUOutletCtl` column.
pub const APC_OUTLET_CONTROL: &str = ".1.3.6.1.4.1.318.1.1.4.4.2.1.3";

pub struct SnmpPduDriver {
    hw: Arc<Hardware>,
}

struct Outlet {
    agent: String,
    oid: String,
    community: String,
    on: i64,
    off: i64,
    reboot: Option<i64>,
    off_secs: u64,
}

impl SnmpPduDriver {
    pub fn new(hw: Arc<Hardware>) -> Self {
        Self { hw }
    }

    fn outlet(&self, target: &Target<'_>) -> Result<Outlet, DriverError> {
        let fqdn = &target.machine.fqdn;
        let settings: SnmpPduSettings = target.settings()?.snmp_pdu.ok_or_else(|| {
            DriverError::Config(format!(
                "{fqdn} has no PDU settings (driver settings \"snmp_pdu\")"
            ))
        })?;
        let host = settings
            .host
            .clone()
            .ok_or_else(|| DriverError::Config(format!("{fqdn}: snmp_pdu.host is not set")))?;
        let outlet = settings
            .outlet
            .ok_or_else(|| DriverError::Config(format!("{fqdn}: snmp_pdu.outlet is not set")))?;
        let credential = self.hw.credential(
            "snmp_pdu.credentials",
            settings.credentials.as_deref(),
            &host,
        )?;
        let community = credential.community.as_ref().ok_or_else(|| {
            DriverError::Config("the snmp_pdu credential needs a community".into())
        })?;
        let base = settings
            .control_oid
            .clone()
            .unwrap_or_else(|| APC_OUTLET_CONTROL.to_owned());
        let custom = settings.control_oid.is_some();
        Ok(Outlet {
            agent: format!("udp:{host}:{}", settings.port.unwrap_or(161)),
            oid: format!("{}.{outlet}", base.trim_end_matches('.')),
            community: community.0.clone(),
            on: settings.on_value.unwrap_or(1),
            off: settings.off_value.unwrap_or(2),
            reboot: settings.reboot_value.or((!custom).then_some(3)),
            off_secs: u64::from(settings.off_secs.unwrap_or(5)),
        })
    }

    /// Runs `program` (snmpget or snmpset) with the community in a private configuration.
    async fn snmp(
        &self,
        outlet: &Outlet,
        program: &str,
        extra: &[String],
    ) -> Result<String, DriverError> {
        let private = PrivateDir::new()?;
        // Quoted, so a community with spaces or '#' stays one value.
        let community = outlet.community.replace('\\', "\\\\").replace('"', "\\\"");
        private.write(
            "snmp.conf",
            &format!("defVersion 2c\ndefCommunity \"{community}\"\n"),
        )?;
        let result = Call::new(program, self.hw.call_timeout)
            .args(["-On", "-Oqv", "-t", "2", "-r", "1", "-m", ""])
            .arg(&outlet.agent)
            .arg(&outlet.oid)
            .args(extra.iter().cloned())
            .env("SNMPCONFPATH", private.path().display().to_string())
            .env("MIBS", "")
            .run()
            .await;
        drop(private);
        result.map(|o| o.trim().to_owned()).map_err(|err| match err {
            DriverError::Exit { output, .. } => DriverError::Failed {
                message: if output.contains("Timeout") {
                    format!(
                        "no answer from the PDU at {}: it is unreachable, or the community is wrong (SNMP v2c agents ignore a wrong community)",
                        outlet.agent
                    )
                } else {
                    format!("the PDU at {} refused {program} {}", outlet.agent, outlet.oid)
                },
                output,
            },
            other => other,
        })
    }

    async fn read(&self, outlet: &Outlet) -> Result<i64, DriverError> {
        let out = self.snmp(outlet, "snmpget", &[]).await?;
        out.trim().parse().map_err(|_| DriverError::Failed {
            message: format!("the PDU answered {} with no number", outlet.oid),
            output: out,
        })
    }

    fn word(outlet: &Outlet, value: i64) -> String {
        if value == outlet.on {
            "on".into()
        } else if value == outlet.off {
            "off".into()
        } else {
            format!("state {value}")
        }
    }

    /// Sets the outlet to `value`, then waits for it to read `want`.
    async fn set(&self, outlet: &Outlet, value: i64, want: i64) -> Result<String, DriverError> {
        self.snmp(outlet, "snmpset", &["i".into(), value.to_string()])
            .await?;
        let limit = Duration::from_secs(outlet.off_secs + 30);
        let (seen, problem, secs) = poll_until(limit, self.hw.poll, || async {
            match self.read(outlet).await {
                Ok(now) => Ok((now == want).then_some(())),
                Err(err) => Err(err.to_string()),
            }
        })
        .await;
        seen.map(|()| {
            format!(
                "outlet {} reads {} after {secs} s",
                outlet.oid,
                Self::word(outlet, want)
            )
        })
        .ok_or_else(|| DriverError::Failed {
            message: format!(
                "outlet {} did not read back {} within {} s",
                outlet.oid,
                Self::word(outlet, want),
                limit.as_secs()
            ),
            output: problem.unwrap_or_default(),
        })
    }

    async fn reboot(&self, outlet: &Outlet) -> Result<String, DriverError> {
        match outlet.reboot {
            Some(value) => {
                let done = self.set(outlet, value, outlet.on).await?;
                Ok(format!("power-cycled; {done}"))
            }
            None => {
                let off = self.set(outlet, outlet.off, outlet.off).await?;
                tokio::time::sleep(Duration::from_secs(outlet.off_secs)).await;
                let on = self.set(outlet, outlet.on, outlet.on).await?;
                Ok(format!("{off}; {on}"))
            }
        }
    }
}

#[async_trait::async_trait]
impl Driver for SnmpPduDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::SnmpPdu
    }

    async fn run(
        &self,
        action: Action,
        _step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        let outlet = self.outlet(target)?;
        let text = match action {
            Action::Status => {
                let value = self.read(&outlet).await?;
                format!("outlet {} is {}", outlet.oid, Self::word(&outlet, value))
            }
            Action::PowerOn => self.set(&outlet, outlet.on, outlet.on).await?,
            Action::PowerOff => self.set(&outlet, outlet.off, outlet.off).await?,
            Action::Reboot => self.reboot(&outlet).await?,
            Action::Reimage | Action::GrantAccess | Action::RevokeAccess => {
                return Err(DriverError::Config(format!(
                    "a PDU cannot {}",
                    action.label().to_lowercase()
                )))
            }
        };
        Ok(ActionOutput::text(format!("PDU {}: {text}", outlet.agent)))
    }
}
