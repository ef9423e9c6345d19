//! Rate limits: per client address on signing in and on the email-link pages, per person on
//! requesting loans (so nobody fills every waiting line or mails every admin a hundred times), per
//! person on every API call (whichever of their tokens makes it).
//! Each process keeps its own counters (GCRA, `governor`): behind a load balancer with N
//! processes a client gets at most N times the limit, which still stops a flood.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::types::UserId;

/// How many of each a client may do; bursts up to the same number are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    pub sign_ins_per_minute: u32,
    pub link_views_per_minute: u32,
    pub loan_requests_per_hour: u32,
    pub api_calls_per_minute: u32,
    /// Statistics pages and CSV downloads per person (each is a few aggregate queries).
    pub statistics_per_minute: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            sign_ins_per_minute: 10,
            link_views_per_minute: 30,
            loan_requests_per_hour: 20,
            api_calls_per_minute: 600,
            statistics_per_minute: 30,
        }
    }
}

/// What was refused, and when to try again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after_secs: u64,
    /// What the limit is on ("sign-ins from your address").
    pub what: &'static str,
}

/// The limits a client address is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressLimit {
    SignIn,
    Links,
}

pub struct RateLimits {
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    links: DefaultKeyedRateLimiter<IpAddr>,
    loan_requests: DefaultKeyedRateLimiter<UserId>,
    api_calls: DefaultKeyedRateLimiter<UserId>,
    statistics: DefaultKeyedRateLimiter<UserId>,
    clock: DefaultClock,
    checks: AtomicU32,
}

fn quota(n: u32, per: fn(NonZeroU32) -> Quota) -> Quota {
    per(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            sign_in: RateLimiter::keyed(quota(settings.sign_ins_per_minute, Quota::per_minute)),
            links: RateLimiter::keyed(quota(settings.link_views_per_minute, Quota::per_minute)),
            loan_requests: RateLimiter::keyed(quota(
                settings.loan_requests_per_hour,
                Quota::per_hour,
            )),
            api_calls: RateLimiter::keyed(quota(settings.api_calls_per_minute, Quota::per_minute)),
            statistics: RateLimiter::keyed(quota(
                settings.statistics_per_minute,
                Quota::per_minute,
            )),
            clock: DefaultClock::default(),
            checks: AtomicU32::new(0),
        }
    }

    /// Counts one request from `address`; refuses it when over the limit. IPv6 clients are
    /// counted per /64, the block one subscriber usually has.
    pub fn check_address(&self, limit: AddressLimit, address: IpAddr) -> Result<(), RateLimited> {
        self.forget_old();
        let key = match address.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
            v4 => v4,
        };
        let (limiter, what) = match limit {
            AddressLimit::SignIn => (&self.sign_in, "sign-in attempts from your address"),
            AddressLimit::Links => (&self.links, "email-link requests from your address"),
        };
        limiter.check_key(&key).map_err(|not_until| RateLimited {
            retry_after_secs: not_until.wait_time_from(self.clock.now()).as_secs() + 1,
            what,
        })
    }

    /// Counts one loan request by `user`; refuses it when over the limit.
    pub fn check_loan_request(&self, user: UserId) -> Result<(), RateLimited> {
        self.forget_old();
        self.loan_requests
            .check_key(&user)
            .map_err(|not_until| RateLimited {
                retry_after_secs: not_until.wait_time_from(self.clock.now()).as_secs() + 1,
                what: "loan requests from you",
            })
    }

    /// Counts one API call made with a token of `owner` (all of a person's tokens together, so
    /// more tokens buy no more calls); refuses it when over the limit.
    pub fn check_api_call(&self, owner: UserId) -> Result<(), RateLimited> {
        self.forget_old();
        self.api_calls
            .check_key(&owner)
            .map_err(|not_until| RateLimited {
                retry_after_secs: not_until.wait_time_from(self.clock.now()).as_secs() + 1,
                what: "calls with your API tokens",
            })
    }

    /// Counts one statistics page or CSV download by `user`; refuses it when over the limit.
    pub fn check_statistics(&self, user: UserId) -> Result<(), RateLimited> {
        self.forget_old();
        self.statistics
            .check_key(&user)
            .map_err(|not_until| RateLimited {
                retry_after_secs: not_until.wait_time_from(self.clock.now()).as_secs() + 1,
                what: "statistics pages and downloads from you",
            })
    }

    /// Now and then, drops the counters of clients that have been quiet long enough, so the
    /// tables stay small whatever addresses a flood comes from.
    fn forget_old(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.sign_in.retain_recent();
            self.links.retain_recent();
            self.loan_requests.retain_recent();
            self.api_calls.retain_recent();
            self.statistics.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_limit_is_refused_with_a_wait() {
        let limits = RateLimits::new(LimitSettings {
            sign_ins_per_minute: 3,
            ..Default::default()
        });
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_address(AddressLimit::SignIn, ip).is_ok());
        }
        let refused = limits.check_address(AddressLimit::SignIn, ip).unwrap_err();
        assert!((1..=21).contains(&refused.retry_after_secs), "{refused:?}");
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(limits.check_address(AddressLimit::SignIn, other).is_ok());
        assert!(
            limits.check_address(AddressLimit::Links, ip).is_ok(),
            "limits are separate"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_block() {
        let limits = RateLimits::new(LimitSettings {
            link_views_per_minute: 2,
            ..Default::default()
        });
        for last in ["2001:db8::1", "2001:db8::2"] {
            assert!(limits
                .check_address(AddressLimit::Links, last.parse().unwrap())
                .is_ok());
        }
        let same_block: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert!(limits
            .check_address(AddressLimit::Links, same_block)
            .is_err());
    }

    #[test]
    fn loan_requests_are_counted_per_person() {
        let limits = RateLimits::new(LimitSettings {
            loan_requests_per_hour: 1,
            ..Default::default()
        });
        assert!(limits.check_loan_request(UserId(1)).is_ok());
        assert!(limits.check_loan_request(UserId(1)).is_err());
        assert!(limits.check_loan_request(UserId(2)).is_ok());
    }
}
