//! Injected time and randomness, so ceremonies are deterministic under test.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use latchkey_policy::Timestamp;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to: for tests and scenarios.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock stopped at `now`.
    #[must_use]
    pub fn new(now: Timestamp) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: Timestamp) {
        if let Ok(mut current) = self.0.lock() {
            *current = now;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.lock().map_or(Timestamp(0), |t| *t)
    }
}

/// Where challenge bytes come from.
pub trait Random: Send + Sync {
    /// Fills `bytes` with unpredictable bytes.
    ///
    /// # Errors
    ///
    /// When the source fails; no ceremony starts without fresh randomness.
    fn fill(&self, bytes: &mut [u8]) -> Result<(), crate::Error>;
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), crate::Error> {
        getrandom::fill(bytes).map_err(|_| crate::Error::Internal("OS randomness unavailable"))
    }
}
