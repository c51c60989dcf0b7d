//! The matchmaker's sessions: the library's [`Sessions`] (self-verifying, checked offline
//! by every matchmaker and by the lobby), and the matchmaker's rule for login names.

pub use tickwire::secure::{SessionError, Sessions, MAX_SESSION_NAME as MAX_NAME, SESSION_CONTEXT};

/// Checks a login name: 1 to [`MAX_NAME`] bytes, no control characters, no leading or
/// trailing space.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("a name is 1 to {MAX_NAME} bytes of UTF-8"));
    }
    if name.chars().any(char::is_control) {
        return Err("a name holds no control characters".into());
    }
    if name.trim() != name {
        return Err("a name neither starts nor ends with a space".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("ann").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" ann").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME + 1)).is_err());
    }
}
