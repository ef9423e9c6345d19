//! One simulated loan played out: the generator, the rows written, and the story of a request
//! from its arrival to its machine back in the pool (see the module above).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

use app::server::models::Pool;
use app::server::schema::{loan_events, loans};
use app::types::Phase;

pub(super) const REASONS: [&str; 6] = [
    "Reproduce a crash seen in CI",
    "Bisect a performance regression",
    "Test the release candidate on real hardware",
    "Debug a flaky test",
    "Build and test a backport",
    "Check a driver fix",
];

/// A small deterministic generator (xorshift*), so a seed always gives the same history.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(super) fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.unit() * (high - low + 1) as f64) as i64
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.unit() * items.len() as f64) as usize % items.len()]
    }
}

#[derive(Insertable)]
#[diesel(table_name = loans)]
pub(super) struct SimLoan {
    pub(super) id: i64,
    pub(super) user_id: i64,
    pub(super) pool_id: i64,
    pub(super) machine_id: Option<i64>,
    pub(super) state: String,
    pub(super) reason: String,
    pub(super) bug_ref: Option<String>,
    pub(super) duration_hours: i32,
    pub(super) ssh_public_key: String,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) approved_by: Option<i64>,
    pub(super) requested_at: DateTime<Utc>,
    pub(super) approved_at: Option<DateTime<Utc>>,
    pub(super) ready_at: Option<DateTime<Utc>>,
    pub(super) ended_at: Option<DateTime<Utc>>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) extensions_used: i32,
    pub(super) expired_at: Option<DateTime<Utc>>,
    pub(super) decision_reason: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = loan_events)]
pub(super) struct SimEvent {
    pub(super) loan_id: i64,
    pub(super) at: DateTime<Utc>,
    pub(super) actor_id: Option<i64>,
    pub(super) kind: String,
    pub(super) message: String,
    pub(super) details: serde_json::Value,
}

/// A machine's breakage: when, and when an admin had it back in the pool.
pub(super) struct Breakage {
    pub(super) machine_id: i64,
    pub(super) fqdn: String,
    pub(super) broken_at: DateTime<Utc>,
    pub(super) repaired_at: DateTime<Utc>,
}

pub(super) struct PoolPlan {
    pub(super) pool: Pool,
    pub(super) manual: bool,
    pub(super) provision: Vec<String>,
    pub(super) reclaim: Vec<String>,
    /// (machine id, fqdn, free from).
    pub(super) machines: Vec<(i64, String, DateTime<Utc>)>,
}

/// One loan as it is played out: its row and its history.
pub(super) struct Story {
    pub(super) loan: SimLoan,
    pub(super) events: Vec<SimEvent>,
    pub(super) last: DateTime<Utc>,
}

impl Story {
    pub(super) fn new(id: i64, person: i64, at: DateTime<Utc>) -> Self {
        Self {
            loan: SimLoan {
                id,
                user_id: person,
                pool_id: 0,
                machine_id: None,
                state: "requested".into(),
                reason: String::new(),
                bug_ref: None,
                duration_hours: 8,
                ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeSimulatedKeyOnlyForTheDemoHistory0000 simulated".into(),
                expires_at: None,
                approved_by: None,
                requested_at: at,
                approved_at: None,
                ready_at: None,
                ended_at: None,
                updated_at: at,
                extensions_used: 0,
                expired_at: None,
                decision_reason: None,
            },
            events: Vec::new(),
            last: at,
        }
    }

    fn event(&mut self, at: DateTime<Utc>, kind: &str, message: impl Into<String>) {
        self.event_with(at, kind, message, json!({}));
    }

    fn event_with(
        &mut self,
        at: DateTime<Utc>,
        kind: &str,
        message: impl Into<String>,
        details: serde_json::Value,
    ) {
        self.last = self.last.max(at);
        self.events.push(SimEvent {
            loan_id: self.loan.id,
            at,
            actor_id: None,
            kind: kind.into(),
            message: message.into(),
            details,
        });
    }

    /// Runs a phase's steps from `at`; a step fails now and then and is tried again.
    /// Returns when the phase ended and whether it gave up.
    fn steps(
        &mut self,
        rng: &mut Rng,
        phase: Phase,
        names: &[String],
        mut at: DateTime<Utc>,
        give_up: f64,
    ) -> (DateTime<Utc>, bool) {
        let total = names.len();
        for (index, name) in names.iter().enumerate() {
            let details = |attempt: i64| json!({"phase": phase.as_str(), "step": index, "total": total, "name": name, "attempt": attempt});
            at += Duration::seconds(rng.between(20, 240));
            if rng.chance(0.04) {
                let fatal = rng.chance(give_up);
                let next = if fatal { "giving up" } else { "trying again" };
                self.event_with(
                    at,
                    "step_failed",
                    format!(
                        "Step {} of {total}: {name}: failed (attempt 1): timed out; {next}",
                        index + 1
                    ),
                    details(1),
                );
                if fatal {
                    return (at, true);
                }
                at += Duration::seconds(rng.between(30, 300));
            }
            self.event_with(
                at,
                "step_succeeded",
                format!("Step {} of {total}: {name}: done", index + 1),
                details(1),
            );
        }
        (at, false)
    }

    pub(super) fn finished_before(&self, now: DateTime<Utc>) -> bool {
        self.last <= now && self.loan.ended_at.is_some_and(|e| e <= now)
    }

    pub(super) fn into_rows(mut self) -> (SimLoan, Vec<SimEvent>) {
        self.loan.updated_at = self.last;
        (self.loan, self.events)
    }
}

/// Plays one request out on its pool.
pub(super) fn play(
    rng: &mut Rng,
    pool: &mut PoolPlan,
    story: &mut Story,
    admin: i64,
    now: DateTime<Utc>,
    broken: &mut Vec<Breakage>,
) {
    let requested = story.loan.requested_at;
    story.loan.pool_id = pool.pool.id.0;
    story.loan.reason = (*rng.pick(&REASONS)).to_owned();
    story.loan.duration_hours = *rng.pick(&[2, 4, 4, 8, 8, 8, 24, 48]);
    if rng.chance(0.4) {
        story.loan.bug_ref = Some(format!("{}", 2_100_000 + rng.between(0, 24)));
    }
    story.event(
        requested,
        "requested",
        format!("Requested a machine from {}", pool.pool.name),
    );
    // Approval.
    let approved = if pool.manual {
        story.event(
            requested,
            "awaiting_approval",
            "Waiting for an admin to approve",
        );
        let decided = requested + Duration::minutes(rng.between(5, 240));
        story.loan.approved_by = Some(admin);
        if rng.chance(0.08) {
            story.loan.state = "denied".into();
            story.loan.decision_reason = Some("Use the shared CI pool for this".into());
            story.loan.ended_at = Some(decided);
            story.event(decided, "denied", "Denied: use the shared CI pool for this");
            return;
        }
        story.event(decided, "approved", "Approved by an admin");
        decided
    } else {
        story.event(
            requested,
            "approved",
            "Approved automatically by the pool's policy",
        );
        requested
    };
    story.loan.approved_at = Some(approved);
    // A machine: the one free soonest; the request waits in line until then.
    let Some((slot, free_at)) = pool
        .machines
        .iter()
        .enumerate()
        .min_by_key(|(_, m)| m.2)
        .map(|(i, m)| (i, m.2))
    else {
        return;
    };
    let assigned = approved.max(free_at);
    if assigned > approved {
        story.event(approved, "waiting", "Every machine is out; waiting in line");
        if assigned - approved > Duration::days(2) || rng.chance(0.03) {
            let gave_up =
                approved + Duration::minutes(rng.between(10, 600)).min(assigned - approved);
            story.loan.state = "cancelled".into();
            story.loan.ended_at = Some(gave_up);
            story.event(gave_up, "cancelled", "Cancelled while waiting in line");
            return;
        }
    }
    let (machine_id, fqdn) = (pool.machines[slot].0, pool.machines[slot].1.clone());
    story.loan.machine_id = Some(machine_id);
    // As the real history says it: the machine's id is what the statistics count it by.
    story.event_with(
        assigned,
        "machine_assigned",
        format!("Machine {fqdn} assigned"),
        json!({ "machine_id": machine_id, "fqdn": fqdn }),
    );
    let (ready, failed) = story.steps(
        rng,
        Phase::Provision,
        &pool.provision.clone(),
        assigned,
        0.25,
    );
    let use_ended = if failed {
        story.loan.state = "failed".into();
        story.event(
            ready,
            "failed",
            "Provisioning failed; the machine is being cleaned up",
        );
        ready
    } else if rng.chance(0.03) {
        story.loan.state = "cancelled".into();
        story.event(ready, "cancelled", "Cancelled before the machine was ready");
        ready
    } else {
        story.loan.ready_at = Some(ready);
        story.event(ready, "ready", "Ready: the machine is yours");
        let mut expires = ready + Duration::hours(i64::from(story.loan.duration_hours));
        if rng.chance(0.15) {
            expires += Duration::hours(24);
            story.loan.extensions_used = 1;
            story.event(
                expires - Duration::hours(25),
                "extended",
                "Extended by 24 hours",
            );
        }
        story.loan.expires_at = Some(expires);
        let roll = rng.unit();
        if roll < 0.03 {
            let at = ready + (expires - ready) / 3;
            story.loan.state = "returned".into();
            story.loan.decision_reason = Some("Needed for a release blocker".into());
            story.event(
                at,
                "forced_return",
                "Taken back by an admin: needed for a release blocker",
            );
            at
        } else if roll < 0.28 {
            story.loan.state = "reclaimed".into();
            story.loan.expired_at = Some(expires);
            story.event(
                expires,
                "expired",
                "The loan ran out; the machine is being reclaimed",
            );
            expires
        } else {
            let used = (expires - ready).num_seconds() as f64 * (0.1 + 0.8 * rng.unit());
            let at = ready + Duration::seconds(used as i64);
            story.loan.state = "returned".into();
            story.event(at, "return_requested", "Returned the machine");
            at
        }
    };
    if story.loan.state == "reclaimed" {
        story.event(
            use_ended,
            "reclaim_started",
            "The loan ran out: cleaning up the machine",
        );
    }
    let (clean, broke) = story.steps(rng, Phase::Reclaim, &pool.reclaim.clone(), use_ended, 0.25);
    story.loan.ended_at = Some(clean);
    let back = if broke {
        story.event(
            clean,
            "machine_broken",
            "Clean-up failed. The machine was marked broken and taken out of the pool for an admin to look at.",
        );
        let repaired = clean + Duration::hours(rng.between(2, 30));
        if repaired <= now && clean <= now {
            broken.push(Breakage {
                machine_id,
                fqdn,
                broken_at: clean,
                repaired_at: repaired,
            });
        }
        repaired
    } else {
        story.event(
            clean,
            "cleanup_finished",
            "Cleaned up; the machine is back in the pool",
        );
        clean
    };
    pool.machines[slot].2 = back;
}
