//! The `Timers` trait and its tokio implementation: one deadline per timer kind.

use ballot_core::Timer;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Timers as the runtime uses them. A controlled implementation (tests, conformance) can fire
/// timers on demand and ignore the durations.
pub trait Timers: Send + 'static {
    /// Arms `timer` to fire after `after`, replacing an earlier deadline.
    fn set(&mut self, timer: Timer, after: Duration);
    /// Disarms `timer`.
    fn cancel(&mut self, timer: Timer);
    /// Resolves when the earliest armed timer fires, disarming it; pending forever if none
    /// is armed. Must be cancel-safe (the runtime polls it in `select!`).
    fn fired(&mut self) -> impl Future<Output = Timer> + Send;
}

/// Timers on tokio's clock.
/// How late a timer may fire before it is worth a warning (a heartbeat period is 20 ms).
const LATE: Duration = Duration::from_millis(40);

#[derive(Debug, Default)]
pub struct TokioTimers {
    deadlines: BTreeMap<Timer, Instant>,
}

impl Timers for TokioTimers {
    fn set(&mut self, timer: Timer, after: Duration) {
        self.deadlines.insert(timer, Instant::now() + after);
    }

    fn cancel(&mut self, timer: Timer) {
        self.deadlines.remove(&timer);
    }

    async fn fired(&mut self) -> Timer {
        let Some((&timer, &deadline)) = self.deadlines.iter().min_by_key(|(_, d)| **d) else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(deadline).await;
        self.deadlines.remove(&timer);
        let late = Instant::now().saturating_duration_since(deadline);
        if late >= LATE {
            // The node's task did not run for that long: whatever it should have heard from
            // its peers meanwhile may still be unread (a leader's CheckQuorum then counts
            // followers that did answer as silent).
            tracing::warn!(
                ?timer,
                late_ms = late.as_millis() as u64,
                "timer fired late: the node's runtime was stalled"
            );
        }
        timer
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn earliest_fires_first_and_cancel_disarms() {
        let mut t = TokioTimers::default();
        t.set(Timer::Election, Duration::from_millis(20));
        t.set(Timer::Heartbeat, Duration::from_millis(5));
        assert_eq!(t.fired().await, Timer::Heartbeat);
        t.cancel(Timer::Election);
        let r = tokio::time::timeout(Duration::from_secs(1), t.fired()).await;
        assert!(r.is_err(), "nothing armed, nothing fires");
    }
}
