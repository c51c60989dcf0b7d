//! Key files: the 32-byte key as 64 hex digits and a newline, readable by its owner only.

use super::{Key, KEY_LEN};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a key file could not be read or written.
#[derive(Debug)]
pub enum KeyFileError {
    /// The file could not be opened, read or written.
    Io(PathBuf, std::io::Error),
    /// Group or others may access it (its mode is given): `chmod 600` it.
    Permissions(PathBuf, u32),
    /// It does not hold exactly 64 hex digits and a newline.
    Format(PathBuf),
    /// `write_file` would overwrite an existing file.
    Exists(PathBuf),
}

impl core::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyFileError::Io(p, e) => write!(f, "key file {}: {e}", p.display()),
            KeyFileError::Permissions(p, mode) => write!(
                f,
                "key file {} has mode {mode:04o}: group or others can access it; \
                 run `chmod 600 {}` (a fleet key admits anyone who holds it)",
                p.display(),
                p.display()
            ),
            KeyFileError::Format(p) => write!(
                f,
                "key file {} must hold exactly 64 hex digits and a newline \
                 (`tickwire token keygen FILE` writes one)",
                p.display()
            ),
            KeyFileError::Exists(p) => write!(
                f,
                "{} exists: refusing to overwrite a key (remove it first)",
                p.display()
            ),
        }
    }
}

impl std::error::Error for KeyFileError {}

impl Key {
    /// Reads a key file: exactly 64 hex digits and a newline (a missing final newline is
    /// accepted), in a file that neither group nor others may access (mode `0600` or
    /// stricter). Anything else is refused with a message that says how to fix it.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Key, KeyFileError> {
        let path = path.as_ref();
        let io = |e| KeyFileError::Io(path.to_path_buf(), e);
        let file = std::fs::File::open(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file.metadata().map_err(io)?.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Permissions(path.to_path_buf(), mode));
            }
        }
        let mut text = zeroize::Zeroizing::new(Vec::with_capacity(2 * KEY_LEN + 2));
        // One byte more than a well-formed file holds, so a longer one is refused unread.
        file.take(2 * KEY_LEN as u64 + 3)
            .read_to_end(&mut text)
            .map_err(io)?;
        let body = text.strip_suffix(b"\n").unwrap_or(&text);
        let ok = body.len() == 2 * KEY_LEN;
        core::str::from_utf8(body)
            .ok()
            .filter(|_| ok)
            .and_then(Key::from_hex)
            .ok_or_else(|| KeyFileError::Format(path.to_path_buf()))
    }

    /// Writes the key as a new key file of mode `0600`; refuses to overwrite a file.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
        let path = path.as_ref();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists(path.to_path_buf()),
            _ => KeyFileError::Io(path.to_path_buf(), e),
        })?;
        let mut text = zeroize::Zeroizing::new(self.to_hex());
        text.push('\n');
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| KeyFileError::Io(path.to_path_buf(), e))
    }
}
