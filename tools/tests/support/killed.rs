//! A child process that is killed and reaped when dropped, so a failing test leaves no
//! process behind.

use std::process::Child;

/// The child; killed and waited for on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
