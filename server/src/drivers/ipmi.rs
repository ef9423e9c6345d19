//! The `ipmi` driver: the machine's BMC through `ipmitool` over IPMI v2 (lanplus). The password
//! reaches ipmitool in `IPMI_PASSWORD` (`-E`), never on its command line. Every power change is
//! confirmed by reading the power state back; a re-image sets the next boot to the network
//! (read back too) and power-cycles, and the image check then confirms the result.

use std::sync::Arc;
use std::time::Duration;

use app::types::{Action, DriverKind, IpmiSettings, Step};

use super::tool::{poll_until, Call};
use super::{ActionOutput, Driver, DriverError, Hardware, Target};

pub struct IpmiDriver {
    hw: Arc<Hardware>,
}

const DEFAULT_READY_SECS: u32 = 120;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Power {
    On,
    Off,
}

impl Power {
    fn word(self) -> &'static str {
        match self {
            Power::On => "on",
            Power::Off => "off",
        }
    }
}

struct Bmc {
    host: String,
    port: u16,
    username: String,
    password: String,
    cipher_suite: u8,
    ready: Duration,
}

impl IpmiDriver {
    pub fn new(hw: Arc<Hardware>) -> Self {
        Self { hw }
    }

    fn bmc(&self, target: &Target<'_>) -> Result<Bmc, DriverError> {
        let settings: IpmiSettings = target.settings()?.ipmi.ok_or_else(|| {
            DriverError::Config(format!(
                "{} has no ipmi settings (driver settings \"ipmi\")",
                target.machine.fqdn
            ))
        })?;
        let host = settings.host.clone().ok_or_else(|| {
            DriverError::Config(format!("{}: ipmi.host is not set", target.machine.fqdn))
        })?;
        let credential =
            self.hw
                .credential("ipmi.credentials", settings.credentials.as_deref(), &host)?;
        let (Some(username), Some(password)) = (&credential.username, &credential.password) else {
            return Err(DriverError::Config(
                "the ipmi credential needs a username and a password".into(),
            ));
        };
        Ok(Bmc {
            host,
            port: settings.port.unwrap_or(623),
            username: username.clone(),
            password: password.0.clone(),
            cipher_suite: settings.cipher_suite.unwrap_or(3),
            ready: Duration::from_secs(u64::from(
                settings.ready_timeout_secs.unwrap_or(DEFAULT_READY_SECS),
            )),
        })
    }

    async fn ipmitool(&self, bmc: &Bmc, args: &[&str]) -> Result<String, DriverError> {
        let call = Call::new("ipmitool", self.hw.call_timeout)
            .args([
                "-I",
                "lanplus",
                "-H",
                &bmc.host,
                "-p",
                &bmc.port.to_string(),
                "-U",
                &bmc.username,
                "-E",
                "-C",
                &bmc.cipher_suite.to_string(),
                "-N",
                "2",
                "-R",
                "2",
            ])
            .args(args.iter().copied())
            .env("IPMI_PASSWORD", bmc.password.clone());
        call.run().await.map_err(|err| match err {
            DriverError::Exit { output, .. } => DriverError::Failed {
                message: format!(
                    "ipmitool {} on the BMC {}:{} failed{}",
                    args.join(" "),
                    bmc.host,
                    bmc.port,
                    if output.contains("Unable to establish") {
                        " (no session: the BMC is unreachable, or the user, password or cipher suite is wrong)"
                    } else {
                        ""
                    }
                ),
                output,
            },
            other => other,
        })
    }

    async fn power(&self, bmc: &Bmc) -> Result<Power, DriverError> {
        let out = self.ipmitool(bmc, &["chassis", "power", "status"]).await?;
        if out.contains("is on") {
            Ok(Power::On)
        } else if out.contains("is off") {
            Ok(Power::Off)
        } else {
            Err(DriverError::Failed {
                message: format!("the BMC {} gave no power state", bmc.host),
                output: out,
            })
        }
    }

    /// Waits for the power state to read `want`.
    async fn reads_back(&self, bmc: &Bmc, want: Power) -> Result<u64, DriverError> {
        let (seen, problem, secs) = poll_until(bmc.ready, self.hw.poll, || async {
            match self.power(bmc).await {
                Ok(now) => Ok((now == want).then_some(())),
                Err(err) => Err(err.to_string()),
            }
        })
        .await;
        seen.map(|()| secs).ok_or_else(|| DriverError::Failed {
            message: format!(
                "the power of {} did not read back {} within {} s",
                bmc.host,
                want.word(),
                bmc.ready.as_secs()
            ),
            output: problem.unwrap_or_default(),
        })
    }

    async fn set(&self, bmc: &Bmc, want: Power) -> Result<ActionOutput, DriverError> {
        let out = self
            .ipmitool(bmc, &["chassis", "power", want.word()])
            .await?;
        let secs = self.reads_back(bmc, want).await?;
        Ok(ActionOutput::text(format!(
            "ipmi {}: {out}; power reads {} after {secs} s",
            bmc.host,
            want.word()
        )))
    }

    /// Power-cycles a machine that is on, powers on one that is off; either way it must read on.
    async fn restart(&self, bmc: &Bmc) -> Result<String, DriverError> {
        let before = self.power(bmc).await?;
        let command = if before == Power::On { "cycle" } else { "on" };
        let out = self.ipmitool(bmc, &["chassis", "power", command]).await?;
        let secs = self.reads_back(bmc, Power::On).await?;
        Ok(format!(
            "ipmi {}: power was {}; {out}; power reads on after {secs} s",
            bmc.host,
            before.word()
        ))
    }

    async fn reimage(&self, bmc: &Bmc) -> Result<ActionOutput, DriverError> {
        let set = self.ipmitool(bmc, &["chassis", "bootdev", "pxe"]).await?;
        let read = self
            .ipmitool(bmc, &["chassis", "bootparam", "get", "5"])
            .await?;
        if !read.contains("Force PXE") {
            return Err(DriverError::Failed {
                message: format!("the BMC {} did not keep network boot", bmc.host),
                output: read,
            });
        }
        let restarted = self.restart(bmc).await?;
        Ok(ActionOutput::text(format!(
            "ipmi {}: {set} (boot device reads Force PXE)\n{restarted}",
            bmc.host
        )))
    }
}

#[async_trait::async_trait]
impl Driver for IpmiDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Ipmi
    }

    async fn run(
        &self,
        action: Action,
        _step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        let bmc = self.bmc(target)?;
        match action {
            Action::Status => {
                let power = self.power(&bmc).await?;
                Ok(ActionOutput::text(format!(
                    "ipmi {}: power is {}",
                    bmc.host,
                    power.word()
                )))
            }
            Action::PowerOn => self.set(&bmc, Power::On).await,
            Action::PowerOff => self.set(&bmc, Power::Off).await,
            Action::Reboot => self.restart(&bmc).await.map(ActionOutput::text),
            Action::Reimage => self.reimage(&bmc).await,
            Action::GrantAccess | Action::RevokeAccess => Err(DriverError::Config(format!(
                "the ipmi driver cannot {}",
                action.label().to_lowercase()
            ))),
        }
    }
}
