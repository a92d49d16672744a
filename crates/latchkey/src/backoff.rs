//! Pauses between the attempts of a command whose append conflicted.
//!
//! Two instances that conflict on one account and retry at once conflict again; a pause
//! drawn at random from a window that doubles with each attempt ("full jitter") spreads
//! them out. The pause is injected like the clock, so that tests run without sleeping and
//! services on another runtime plug in their own timer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The window of the first pause; it doubles with every attempt.
const FIRST_WINDOW: Duration = Duration::from_millis(2);

/// No pause is longer than this.
const LONGEST_WINDOW: Duration = Duration::from_millis(100);

/// A future a [`Pause`] returns.
pub type PauseFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Waits between two attempts of a command.
pub trait Pause: Send + Sync {
    /// Waits for about `duration`.
    fn pause(&self, duration: Duration) -> PauseFuture<'_>;
}

/// tokio's timer (feature `tokio`, on by default): needs a runtime whose time driver is
/// enabled, as `#[tokio::main]` and `Builder::enable_all` give. Outside a tokio runtime it
/// does not wait.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioPause;

#[cfg(feature = "tokio")]
impl Pause for TokioPause {
    fn pause(&self, duration: Duration) -> PauseFuture<'_> {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => Box::pin(tokio::time::sleep(duration)),
            Err(_) => Box::pin(std::future::ready(())),
        }
    }
}

/// Does not wait: the next attempt follows at once (tests, or a runtime without timers).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPause;

impl Pause for NoPause {
    fn pause(&self, _duration: Duration) -> PauseFuture<'_> {
        Box::pin(std::future::ready(()))
    }
}

/// The pause after failed attempt `attempt` (0 for the first), given 4 random bytes: a
/// uniform draw from `[0, min(LONGEST_WINDOW, FIRST_WINDOW * 2^attempt)]`.
pub(crate) fn pause_after(attempt: u32, random: [u8; 4]) -> Duration {
    let window = FIRST_WINDOW
        .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
        .map_or(LONGEST_WINDOW, |w| w.min(LONGEST_WINDOW));
    let micros = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
    let draw = u64::from(u32::from_le_bytes(random));
    Duration::from_micros(micros.saturating_mul(draw) / u64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_up_to_the_longest() {
        let top = [0xff; 4];
        assert_eq!(pause_after(0, top), Duration::from_millis(2));
        assert_eq!(pause_after(1, top), Duration::from_millis(4));
        assert_eq!(pause_after(5, top), Duration::from_millis(64));
        assert_eq!(pause_after(6, top), LONGEST_WINDOW);
        assert_eq!(pause_after(40, top), LONGEST_WINDOW);
        assert_eq!(pause_after(3, [0; 4]), Duration::ZERO);
        assert_eq!(
            pause_after(3, 0x8000_0000u32.to_le_bytes()).as_micros(),
            8_000
        );
    }
}
