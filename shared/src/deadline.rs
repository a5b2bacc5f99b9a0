//! An invocation's deadline, from its context, less a reserve: the time by which a function stops
//! starting work, so that its answer reaches Lambda before the invocation times out. (A timed-out
//! invocation's work is all retried, as if none of it had been done.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;

/// The invocation's deadline, less a reserve.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(SystemTime);

/// 2000-01-01 in milliseconds since the Unix epoch. Lambda's deadlines are times, always later;
/// cargo-lambda's runtime emulator sends the function's timeout instead (`600000`, ten minutes),
/// so a smaller value is read as a time that far from now.
const YEAR_2000_MS: u64 = 946_684_800_000;

impl Deadline {
    /// The context's deadline, less `reserve`.
    pub fn of(context: &Context, reserve: Duration) -> Deadline {
        let deadline = if context.deadline < YEAR_2000_MS {
            SystemTime::now() + Duration::from_millis(context.deadline)
        } else {
            UNIX_EPOCH + Duration::from_millis(context.deadline)
        };
        Deadline(deadline.checked_sub(reserve).unwrap_or(UNIX_EPOCH))
    }

    /// Whether work that takes `duration` from now still ends in time.
    pub fn allows(&self, duration: Duration) -> bool {
        SystemTime::now() + duration <= self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_allows_nothing_and_one_far_ahead_allows_a_little() {
        let mut context = Context::default();
        context.deadline = 1;
        assert!(!Deadline::of(&context, Duration::from_secs(10)).allows(Duration::ZERO));
        let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
        context.deadline = in_an_hour.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let deadline = Deadline::of(&context, Duration::from_secs(10));
        assert!(deadline.allows(Duration::from_secs(60)));
        assert!(!deadline.allows(Duration::from_secs(3600)));
    }
}
