//! The operating system's random number generator, behind the engines' injected
//! [`wire::random::SecureRandom`]. (`Secret` itself is `gateway_core::secret::Secret`.)

/// The operating system's random number generator behind the engines' injected
/// [`wire::random::SecureRandom`].
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl wire::random::SecureRandom for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        use rand::TryRng;
        if let Err(e) = rand::rngs::SysRng.try_fill_bytes(dest) {
            // The kernel's generator does not fail once the system is up; if it did,
            // continuing with predictable keys would be worse than stopping.
            tracing::error!("the operating system's random number generator failed: {e}");
            std::process::abort();
        }
    }
}

/// The operating system's generator for every engine of a core.
pub fn os_random() -> gateway_core::CoreRandom {
    gateway_core::CoreRandom {
        core: Box::new(OsRandom),
        ike: Box::new(OsRandom),
        l2tp: Box::new(OsRandom),
    }
}

#[cfg(test)]
mod tests {
    use gateway_core::secret::Secret;

    use super::*;

    #[test]
    fn os_secrets_differ() {
        let mut os = OsRandom;
        assert_ne!(Secret::generate(&mut os, 16), Secret::generate(&mut os, 16));
    }
}
