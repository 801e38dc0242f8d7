//! The limiters, the failed-verify penalty and the admin-authentication lockout, on governor's
//! fake clock.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::FakeRelativeClock;

use crate::config::LimitsSettings;
use crate::limits::limiter::{Admitted, Limit, Limiters, Refused};
use crate::limits::lockout::Started;

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 8));

fn limiters(verify: &str, failed: &str) -> (Limiters<FakeRelativeClock>, FakeRelativeClock) {
    with_admin(verify, failed, "1000/s")
}

fn with_admin(
    verify: &str,
    failed: &str,
    admin: &str,
) -> (Limiters<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let settings = LimitsSettings {
        verify_per_ip: verify.parse().unwrap(),
        failed_verify_per_ip: failed.parse().unwrap(),
        upstream_verify_per_ip: "1000/s".parse().unwrap(),
        failed_admin_auth_per_ip: admin.parse().unwrap(),
    };
    (Limiters::new(&settings, clock.clone()), clock)
}

#[test]
fn verify_quota_counts_down_and_refuses_until_a_cell_returns() {
    let (l, clock) = limiters("3/min", "10/min");
    let reset = |s| Duration::from_secs(s);
    assert_eq!(
        l.admit(&A),
        Ok(Admitted {
            remaining: 2,
            reset: reset(20)
        })
    );
    assert_eq!(
        l.admit(&A),
        Ok(Admitted {
            remaining: 1,
            reset: reset(40)
        })
    );
    assert_eq!(
        l.admit(&A),
        Ok(Admitted {
            remaining: 0,
            reset: reset(60)
        })
    );
    let refused = Refused {
        limit: Limit::Verify,
        wait: reset(20),
    };
    assert_eq!(l.admit(&A), Err(refused));
    assert!(l.admit(&B).is_ok(), "another key has its own quota");
    clock.advance(Duration::from_secs(20));
    assert!(l.admit(&A).is_ok());
}

#[test]
fn exhausting_failed_verifies_refuses_everything_until_the_limiter_admits() {
    let (l, clock) = limiters("100/min", "3/min");
    for _ in 0..5 {
        l.admit(&A).unwrap(); // successes spend no failed cells
    }
    l.record_failure(&A);
    l.record_failure(&A);
    assert!(l.admit(&A).is_ok());
    l.record_failure(&A);
    let penalty = Refused {
        limit: Limit::FailedVerify,
        wait: Duration::from_secs(20),
    };
    assert_eq!(l.admit(&A), Err(penalty));
    assert!(l.admit(&B).is_ok());
    clock.advance(Duration::from_secs(19));
    assert_eq!(l.admit(&A).unwrap_err().wait, Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    assert!(
        l.admit(&A).is_ok(),
        "the penalty ends when the limiter would admit"
    );
    // One failed cell has come back, so one more failure re-imposes the penalty.
    l.record_failure(&A);
    assert_eq!(l.admit(&A).unwrap_err().limit, Limit::FailedVerify);
}

#[test]
fn prune_forgets_idle_keys_and_served_penalties() {
    let (l, clock) = limiters("3/min", "1/min");
    l.admit(&A).unwrap();
    l.record_failure(&A);
    l.admit(&B).unwrap();
    assert!(l.len() >= 3);
    l.prune();
    assert!(l.len() >= 3, "recent state is kept");
    clock.advance(Duration::from_secs(121));
    l.prune();
    assert_eq!(l.len(), 0);
}

#[test]
fn failed_admin_authentications_lock_a_key_out_and_log_once_a_burst() {
    let (l, clock) = with_admin("100/min", "100/min", "3/min");
    assert_eq!(l.admit_admin(&A), Ok(()));
    assert_eq!(l.record_admin_failure(&A), None);
    assert_eq!(l.record_admin_failure(&A), None);
    assert_eq!(l.admit_admin(&A), Ok(()), "asking spends nothing");
    let started = Started {
        wait: Duration::from_secs(20),
        new_burst: true,
    };
    assert_eq!(l.record_admin_failure(&A), Some(started));
    let refused = Refused {
        limit: Limit::AdminAuth,
        wait: Duration::from_secs(20),
    };
    assert_eq!(l.admit_admin(&A), Err(refused));
    assert_eq!(
        l.admit_admin(&B),
        Ok(()),
        "another key has its own attempts"
    );
    assert!(l.admit(&A).is_ok(), "the public surface is another matter");

    clock.advance(Duration::from_secs(20));
    assert_eq!(l.admit_admin(&A), Ok(()), "a cell came back");
    // The guesser goes on: locked out again at once, in the same burst (no new log line).
    let again = l.record_admin_failure(&A).expect("locked out again");
    assert!(!again.new_burst);
    assert_eq!(l.admit_admin(&A).unwrap_err().limit, Limit::AdminAuth);

    // Once the burst is served and pruned, the next lockout is a new burst.
    clock.advance(Duration::from_secs(120));
    l.prune();
    assert_eq!(l.len(), 0);
    for _ in 0..2 {
        assert_eq!(l.record_admin_failure(&A), None);
    }
    assert!(l.record_admin_failure(&A).unwrap().new_burst);
}

/// Budget-spending verifies are limited per IPv6 /48 as well as per /64: rotating through a
/// site's 65,536 /64s buys no more upstream calls.
#[test]
fn upstream_verifies_are_limited_per_ipv6_site_as_well() {
    let clock = FakeRelativeClock::default();
    let settings = LimitsSettings {
        verify_per_ip: "1000/s".parse().unwrap(),
        failed_verify_per_ip: "1000/s".parse().unwrap(),
        upstream_verify_per_ip: "3/min".parse().unwrap(),
        failed_admin_auth_per_ip: "1000/s".parse().unwrap(),
    };
    let l = Limiters::new(&settings, clock.clone());
    let key = |s: &str| crate::limits::client_ip::limit_key(s.parse().unwrap());
    // Three /64s of one /48: three calls pass, the fourth (from yet another /64) does not.
    for net in ["2001:db8:7:1::9", "2001:db8:7:2::9", "2001:db8:7:3::9"] {
        assert!(l.admit_upstream(&key(net)).is_ok(), "{net}");
    }
    let refused = l.admit_upstream(&key("2001:db8:7:4::9")).unwrap_err();
    assert_eq!(refused.limit, Limit::UpstreamVerify);
    // Another /48 has its own share; IPv4 clients are counted per address only.
    assert!(l.admit_upstream(&key("2001:db8:8:1::9")).is_ok());
    for _ in 0..3 {
        assert!(l.admit_upstream(&A).is_ok());
    }
    assert!(l.admit_upstream(&B).is_ok());
    clock.advance(Duration::from_secs(20));
    assert!(
        l.admit_upstream(&key("2001:db8:7:5::9")).is_ok(),
        "a cell came back"
    );
}
