//! When the worker syncs: a quick sync every few minutes, a full sync once a day at a set local time.
//! Pure: given the time now and the last runs, says what is due next and when.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

/// Which run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// A quick sync.
    Quick,
    /// A full sync.
    Full,
}

/// The schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Between quick syncs.
    pub quick_interval: Duration,
    /// Local time of the daily full sync.
    pub full_at: NaiveTime,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            quick_interval: Duration::minutes(1),
            full_at: NaiveTime::from_hms_opt(2, 0, 0).unwrap_or_default(),
        }
    }
}

impl Schedule {
    /// The next run and its time. A full sync is due when none succeeded yet or the last one is older
    /// than the latest daily slot; it takes precedence over a quick sync due at the same moment.
    pub fn next<Tz: TimeZone>(
        &self,
        now: DateTime<Utc>,
        zone: &Tz,
        last_quick: Option<DateTime<Utc>>,
        last_full: Option<DateTime<Utc>>,
    ) -> (Due, DateTime<Utc>) {
        let Some(last_full) = last_full else {
            return (Due::Full, now);
        };
        let latest_slot = self.latest_full_slot(now, zone);
        if last_full < latest_slot {
            return (Due::Full, now);
        }
        let next_full = latest_slot + Duration::days(1);
        let last_any = last_quick.map_or(last_full, |q| q.max(last_full));
        let next_quick = (last_any + self.quick_interval).max(now);
        if next_full <= next_quick {
            (Due::Full, next_full)
        } else {
            (Due::Quick, next_quick)
        }
    }

    /// The most recent daily full-sync slot at or before `now`, in UTC.
    fn latest_full_slot<Tz: TimeZone>(&self, now: DateTime<Utc>, zone: &Tz) -> DateTime<Utc> {
        let local_now = now.with_timezone(zone);
        let today = local_now.date_naive().and_time(self.full_at);
        // A slot that falls in a DST gap does not exist locally; take the hour after.
        let slot = zone
            .from_local_datetime(&today)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(today + Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        if slot <= now {
            slot
        } else {
            slot - Duration::days(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    #[test]
    fn first_run_is_full_then_quick_on_interval_then_full_at_the_slot() {
        let s = Schedule {
            quick_interval: Duration::minutes(5),
            full_at: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
        };
        assert_eq!(s.next(at(10, 0), &Utc, None, None), (Due::Full, at(10, 0)));
        // Full done at 10:00: next is a quick sync at 10:05.
        assert_eq!(
            s.next(at(10, 1), &Utc, None, Some(at(10, 0))),
            (Due::Quick, at(10, 5))
        );
        assert_eq!(
            s.next(at(10, 6), &Utc, Some(at(10, 5)), Some(at(10, 0))),
            (Due::Quick, at(10, 10))
        );
        // Overdue quick sync: now.
        assert_eq!(
            s.next(at(11, 0), &Utc, Some(at(10, 5)), Some(at(10, 0))),
            (Due::Quick, at(11, 0))
        );
        // Near the slot: the full sync at 02:00 comes before the next quick one.
        let last_quick = Utc.with_ymd_and_hms(2026, 11, 24, 1, 58, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 59, 0).unwrap();
        let slot = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        assert_eq!(
            s.next(now, &Utc, Some(last_quick), Some(at(10, 0))),
            (Due::Full, slot)
        );
        // Missed slot (worker was down at 02:00): full sync now.
        let later = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        assert_eq!(
            s.next(later, &Utc, Some(last_quick), Some(at(10, 0))),
            (Due::Full, later)
        );
    }

    #[test]
    fn slots_follow_the_local_zone() {
        let s = Schedule {
            quick_interval: Duration::minutes(5),
            full_at: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
        };
        let brussels = chrono::FixedOffset::east_opt(3600).unwrap();
        // 02:00 in UTC+1 is 01:00 UTC: a full sync at 01:30 UTC is after today's slot.
        let now = at(3, 0);
        assert_eq!(
            s.next(now, &brussels, Some(at(2, 58)), Some(at(1, 30))).0,
            Due::Quick
        );
        assert_eq!(
            s.next(now, &brussels, Some(at(2, 58)), Some(at(0, 30))).0,
            Due::Full
        );
    }
}
