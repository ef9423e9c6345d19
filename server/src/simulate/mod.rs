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

use app::server::models::Pool;
use app::server::schema::{loan_events, loans, machines, pools};
use app::types::{ApprovalMode, Phase};
use story::{play, Breakage, PoolPlan, Rng, SimEvent, SimLoan, Story};

mod story;

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
