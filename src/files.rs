//! Files lockrig writes: created without world-write permission, appended to, or
//! replaced atomically, so a reader never sees half a file.

use std::path::Path;

/// The mode of every file lockrig writes (less the umask): nobody but the owner
/// writes a report.
pub const FILE_MODE: u32 = 0o644;

/// The mode of run directories: nobody but the owner adds, removes or renames in one.
pub const DIR_MODE: u32 = 0o755;

/// Creates `dir` and any missing parents with [`DIR_MODE`].
pub fn create_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates a new run directory `base/NAME` (`NAME-2`, `NAME-3`... if taken), with
/// [`DIR_MODE`] and `base` as needed. The run directory is always a new one: never a
/// folder someone else prepared.
pub fn create_run_dir(base: &Path, name: &str) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    create_dirs(base)?;
    let mut dir = base.join(name);
    let mut n = 1;
    loop {
        match std::fs::DirBuilder::new().mode(DIR_MODE).create(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                n += 1;
                dir = base.join(format!("{name}-{n}"));
            }
            done => return done.map(|()| dir),
        }
    }
}

/// Holds a run directory for the process writing to it, released when dropped (or when
/// the process ends, however it ends): `run --resume` cannot write into a directory a
/// run is still writing.
pub fn hold_run_dir(dir: &Path) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    let file = std::fs::File::open(dir)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "another lockrig process is writing to it",
        ),
        e => e.into(),
    })
}

/// Creates (or truncates) `path` for writing, a new file with [`FILE_MODE`].
pub fn create_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Opens `path` for appending, creating it with [`FILE_MODE`].
pub fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = create_file(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::create_run_dir;

    #[test]
    fn a_run_directory_is_always_new() {
        let base = tempfile::tempdir().unwrap();
        let first = create_run_dir(&base.path().join("out"), "20261123T221829Z").unwrap();
        let second = create_run_dir(&base.path().join("out"), "20261123T221829Z").unwrap();
        assert_eq!(second.file_name().unwrap(), "20261123T221829Z-2");
        assert_ne!(first, second);
    }
}
