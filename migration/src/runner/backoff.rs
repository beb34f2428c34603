//! The one shape of every wait in the runner (for the database, for the migration lock, for a
//! DDL lock timeout to pass): try, and on failure sleep a delay that doubles up to a cap.
//!
//! Not the `backon` crate: each loop decides between attempts with an async look at the database
//! (the sessions in the way, whether another runner finished the work) and gives up against its
//! own deadline, checked before it sleeps. backon's `when`/`notify` hooks are synchronous and its
//! limits count attempts or total sleep, so each loop would keep its own code around it anyway.

use std::time::Duration;

/// Delays that double from a first one up to a cap, with an optional fixed jitter added to each
/// sleep.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    delay: Duration,
    max: Duration,
    jitter: Duration,
}

impl Backoff {
    /// Starts at `first`, doubling after each sleep up to `max`.
    pub(super) fn new(first: Duration, max: Duration) -> Self {
        Self {
            delay: first,
            max,
            jitter: Duration::ZERO,
        }
    }

    /// Adds `jitter` to every sleep (not to [`delay`](Self::delay)), so that processes polling
    /// the same thing do not wake in step.
    pub(super) fn with_jitter(self, jitter: Duration) -> Self {
        Self { jitter, ..self }
    }

    /// The delay the next [`sleep`](Self::sleep) waits, jitter aside: what a caller checks its
    /// deadline against and logs.
    pub(super) fn delay(&self) -> Duration {
        self.delay
    }

    /// Sleeps the current delay (plus jitter), then doubles it, up to the cap.
    pub(super) async fn sleep(&mut self) {
        tokio::time::sleep(self.delay + self.jitter).await;
        self.delay = (self.delay * 2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delays_double_up_to_the_cap() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(1), ms(5)).with_jitter(ms(1));
        let mut delays = vec![backoff.delay()];
        for _ in 0..4 {
            backoff.sleep().await;
            delays.push(backoff.delay());
        }
        assert_eq!(delays, [ms(1), ms(2), ms(4), ms(5), ms(5)]);
    }
}
