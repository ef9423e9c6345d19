//! `loaner demo simulate`: writes a realistic history of finished loans into the database, so
//! the statistics page has something to show on a demo site (and the benchmark a large history).
//!
//! The loans are played out per pool on its real machines, in time order: people ask for
//! machines mostly in working hours, manual pools wait for an admin (who sometimes denies),
//! requests wait in line when every machine is out, steps take minutes and now and then fail
//! and are retried, borrowers give machines back early or let them expire (some extend, an admin
//! takes a few back), and a clean-up now and then breaks a machine, which an admin repairs hours
//! later. Only loans that ended before now are written; the site's live state is not touched.
//! The same seed writes the same history.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use app::server::models::Pool;
use app::server::schema::{loan_events, loans, machines, pools};
use app::types::{ApprovalMode, Phase};

/// What to simulate.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// How many days back from now.
    pub days: i64,
    /// Requests per working day (weekends see a fifth of it).
    pub loans_per_day: u32,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Written {
    pub loans: usize,
    pub events: usize,
    pub broken: usize,
}

const TEAMS: [&str; 6] = ["kernel", "toolchain", "desktop", "qa", "release", "cloud"];
const FIRST: [&str; 12] = [
    "Ada", "Brian", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kemal",
    "Lena",
];
const REASONS: [&str; 6] = [
    "Reproduce a crash seen in CI",
    "Bisect a performance regression",
    "Test the release candidate on real hardware",
    "Debug a flaky test",
    "Build and test a backport",
    "Check a driver fix",
];

/// A small deterministic generator (xorshift*), so a seed always gives the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.unit() * (high - low + 1) as f64) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.unit() * items.len() as f64) as usize % items.len()]
    }
}

#[derive(Insertable)]
#[diesel(table_name = loans)]
struct SimLoan {
    id: i64,
    user_id: i64,
    pool_id: i64,
    machine_id: Option<i64>,
    state: String,
    reason: String,
    bug_ref: Option<String>,
    duration_hours: i32,
    ssh_public_key: String,
    expires_at: Option<DateTime<Utc>>,
    approved_by: Option<i64>,
    requested_at: DateTime<Utc>,
    approved_at: Option<DateTime<Utc>>,
    ready_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    extensions_used: i32,
    expired_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = loan_events)]
struct SimEvent {
    loan_id: i64,
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    kind: String,
    message: String,
    details: serde_json::Value,
}

/// A machine's breakage: when, and when an admin had it back in the pool.
struct Breakage {
    machine_id: i64,
    fqdn: String,
    broken_at: DateTime<Utc>,
    repaired_at: DateTime<Utc>,
}

struct PoolPlan {
    pool: Pool,
    manual: bool,
    provision: Vec<String>,
    reclaim: Vec<String>,
    /// (machine id, fqdn, free from).
    machines: Vec<(i64, String, DateTime<Utc>)>,
}

/// Writes the history.
pub async fn run(
    conn: &mut AsyncPgConnection,
    plan: Plan,
    now: DateTime<Utc>,
) -> anyhow::Result<Written> {
    anyhow::ensure!((1..=3650).contains(&plan.days), "--days must be 1–3650");
    anyhow::ensure!(
        (1..=100_000).contains(&plan.loans_per_day),
        "--loans-per-day must be 1–100000"
    );
    anyhow::ensure!(
        plan.days * i64::from(plan.loans_per_day) <= 2_000_000,
        "--days × --loans-per-day must stay within 2,000,000 requests"
    );
    let start = now - Duration::days(plan.days);
    let people = people(conn).await?;
    let mut pools = pool_plans(conn, start).await?;
    anyhow::ensure!(
        !pools.is_empty(),
        "the database has no pools with machines to simulate loans on"
    );
    let mut rng = Rng(plan.seed.max(1));
    let mut requests: Vec<(DateTime<Utc>, usize)> = Vec::new();
    for day in 0..plan.days {
        let midnight = start + Duration::days(day);
        let weekend = matches!(
            chrono::Datelike::weekday(&midnight),
            chrono::Weekday::Sat | chrono::Weekday::Sun
        );
        let count = if weekend {
            plan.loans_per_day / 5
        } else {
            plan.loans_per_day
        };
        for _ in 0..count {
            // Working hours mostly: 08:00–18:00 UTC, a tenth at any time.
            let minute = if rng.chance(0.9) {
                rng.between(8 * 60, 18 * 60 - 1)
            } else {
                rng.between(0, 24 * 60 - 1)
            };
            // Some pools are busier than others: the first ones in the list.
            let pool = ((rng.unit() * rng.unit()) * pools.len() as f64) as usize;
            requests.push((midnight + Duration::minutes(minute), pool));
        }
    }
    requests.sort();
    let mut loans_out = Vec::new();
    let mut events_out = Vec::new();
    let mut broken = Vec::new();
    let ids = reserve_ids(conn, requests.len()).await?;
    for ((at, pool), id) in requests.into_iter().zip(ids) {
        let person = *rng.pick(&people);
        let mut story = Story::new(id, person, at);
        play(
            &mut rng,
            &mut pools[pool],
            &mut story,
            people[0],
            now,
            &mut broken,
        );
        if story.finished_before(now) {
            let (loan, events) = story.into_rows();
            loans_out.push(loan);
            events_out.extend(events);
        }
    }
    // The machines existed through the simulated period (the demo's were made at start-up).
    conn.transaction(async |conn| {
        app::server::audit::stamp_as(conn, "demo simulate", now).await?;
        diesel::update(machines::table)
            .filter(machines::created_at.gt(start))
            .set(machines::created_at.eq(start))
            .execute(conn)
            .await?;
        Ok::<_, anyhow::Error>(())
    })
    .await?;
    let written = Written {
        loans: loans_out.len(),
        events: events_out.len(),
        broken: broken.len(),
    };
    write(conn, loans_out, events_out, broken, now).await?;
    Ok(written)
}

/// The simulated people, in teams: the first stands for the admin who approves (without an
/// admin's rights), the others borrow.
async fn people(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for (n, first) in FIRST.iter().enumerate() {
        // The first approves requests as an admin would; none gets an admin's rights.
        let role = "developer";
        let groups = vec![TEAMS[n % TEAMS.len()].to_owned()];
        let id: IdRow = diesel::sql_query(
            "INSERT INTO users (email, name, role, groups) VALUES ($1, $2, $3, $4)
             ON CONFLICT (lower(email)) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        )
        .bind::<Text, _>(format!("{}@sim.loaner.test", first.to_lowercase()))
        .bind::<Text, _>(match n {
            0 => format!("{first} (simulated admin)"),
            _ => format!("{first} (simulated)"),
        })
        .bind::<Text, _>(role)
        .bind::<diesel::sql_types::Array<Text>, _>(groups)
        .get_result(conn)
        .await?;
        ids.push(id.id);
    }
    Ok(ids)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Draws loan ids from the loans' own sequence, so the simulated loans never collide with
/// real ones.
async fn reserve_ids(conn: &mut AsyncPgConnection, n: usize) -> anyhow::Result<Vec<i64>> {
    let rows: Vec<IdRow> =
        diesel::sql_query("SELECT nextval('loans_id_seq') AS id FROM generate_series(1, $1)")
            .bind::<BigInt, _>(n as i64)
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

async fn pool_plans(
    conn: &mut AsyncPgConnection,
    start: DateTime<Utc>,
) -> anyhow::Result<Vec<PoolPlan>> {
    let all: Vec<Pool> = pools::table
        .filter(pools::retired_at.is_null())
        .order(pools::id)
        .select(Pool::as_select())
        .load(conn)
        .await?;
    let mut plans = Vec::new();
    for pool in all {
        let hosts: Vec<(i64, String)> = machines::table
            .filter(machines::pool_id.eq(pool.id))
            .filter(machines::state.ne("retired"))
            .order(machines::id)
            .select((machines::id, machines::fqdn))
            .load(conn)
            .await?;
        if hosts.is_empty() {
            continue;
        }
        let names = |phase| {
            pool.steps(phase)
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        };
        plans.push(PoolPlan {
            manual: pool.approval_mode == Some(ApprovalMode::Manual),
            provision: names(Phase::Provision),
            reclaim: names(Phase::Reclaim),
            machines: hosts.into_iter().map(|(id, f)| (id, f, start)).collect(),
            pool,
        });
    }
    Ok(plans)
}

/// One loan as it is played out: its row and its history.
struct Story {
    loan: SimLoan,
    events: Vec<SimEvent>,
    last: DateTime<Utc>,
}

impl Story {
    fn new(id: i64, person: i64, at: DateTime<Utc>) -> Self {
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

    fn finished_before(&self, now: DateTime<Utc>) -> bool {
        self.last <= now && self.loan.ended_at.is_some_and(|e| e <= now)
    }

    fn into_rows(mut self) -> (SimLoan, Vec<SimEvent>) {
        self.loan.updated_at = self.last;
        (self.loan, self.events)
    }
}

/// Plays one request out on its pool.
fn play(
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

/// Writes the loans, their histories and the broken machines' audit rows, a batch per
/// transaction.
async fn write(
    conn: &mut AsyncPgConnection,
    loans_out: Vec<SimLoan>,
    events_out: Vec<SimEvent>,
    broken: Vec<Breakage>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut events = events_out.into_iter().peekable();
    for chunk in loans_out.chunks(1000) {
        let last_id = chunk.last().map_or(0, |l| l.id);
        let mut batch = Vec::new();
        while let Some(e) = events.next_if(|e| e.loan_id <= last_id) {
            batch.push(e);
        }
        conn.transaction(async |conn| {
            app::server::audit::stamp_as(conn, "demo simulate", now).await?;
            diesel::insert_into(loans::table)
                .values(chunk)
                .execute(conn)
                .await?;
            for part in batch.chunks(5000) {
                diesel::insert_into(loan_events::table)
                    .values(part)
                    .execute(conn)
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await
        .context("writing the simulated loans failed")?;
    }
    for b in broken {
        for (at, before, after, actor) in [
            (b.broken_at, "reclaiming", "broken", "scheduler"),
            (
                b.repaired_at,
                "broken",
                "available",
                "Ada (simulated admin)",
            ),
        ] {
            diesel::sql_query(
                "INSERT INTO audit_log (at, actor, kind, target_type, target_id, target, before, after)
                 VALUES ($1, $2, 'machines.state', 'machines', $3, $4, jsonb_build_object('state', $5::TEXT), jsonb_build_object('state', $6::TEXT))",
            )
            .bind::<Timestamptz, _>(at)
            .bind::<Text, _>(actor)
            .bind::<Text, _>(b.machine_id.to_string())
            .bind::<Text, _>(&b.fqdn)
            .bind::<Text, _>(before)
            .bind::<Text, _>(after)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}
