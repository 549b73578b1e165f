//! `MANIFEST.sha256`: the SHA-256 of every file in a run directory, in the format
//! `sha256sum` writes and checks (`HEX  PATH` per line, a leading `\` where a path
//! holds a backslash or a newline), so `cd DIR && sha256sum -c MANIFEST.sha256` works
//! as well as `lockrig verify DIR`.
//!
//! Verifying treats the directory as untrusted: the manifest's paths must be plain
//! relative paths inside it (no absolute paths, no `.` or `..`), every file is opened
//! relative to the directory one component at a time with `O_NOFOLLOW`, and a symbolic
//! link, a FIFO or a device is never opened, let alone followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use sha2::{Digest, Sha256};

/// The manifest's file name, at the top of the run directory.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// The largest manifest `verify` reads: far beyond any run's, small enough to hold.
pub const MAX_MANIFEST: u64 = 16 << 20;

/// How deep a run directory's folders may nest.
const MAX_DEPTH: usize = 32;

/// What sits at a path in the directory, other than a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO, socket or device (never opened).
    Special,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "file",
            Kind::Symlink => "symbolic link, not followed",
            Kind::Special => "not a regular file, not opened",
        })
    }
}

/// A difference between the directory and its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A listed file whose content differs.
    Changed(String),
    /// Something in the directory the manifest does not list.
    Added(String, Kind),
    /// A listed file that is not there.
    Removed(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Changed(p) => write!(f, "changed: {p}"),
            Problem::Added(p, Kind::File) => write!(f, "added: {p}"),
            Problem::Added(p, kind) => write!(f, "added: {p} ({kind})"),
            Problem::Removed(p) => write!(f, "removed: {p}"),
        }
    }
}

/// The outcome of checking a directory that could be checked.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Files the manifest lists.
    pub listed: usize,
    /// Every difference, by path.
    pub problems: Vec<Problem>,
}

/// Why a manifest could not be written or a directory could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The directory has no manifest.
    #[error("{}: no {MANIFEST}: not a sealed run directory", dir.display())]
    Missing {
        /// The directory.
        dir: PathBuf,
    },
    /// A line of the manifest is not `HEX  PATH`.
    #[error("{MANIFEST} line {line}: {why}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// A path in the manifest that could lead outside the directory.
    #[error("{MANIFEST} line {line}: unsafe path `{path}`: {why}; nothing outside the run directory was read")]
    UnsafePath {
        /// 1-based line.
        line: usize,
        /// The path as written.
        path: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A listed path (or a folder on its way) that is not a regular file or folder.
    #[error("`{path}`: {kind}; a run directory holds regular files only")]
    NotRegular {
        /// The path inside the directory.
        path: String,
        /// What it is.
        kind: Kind,
    },
    /// A name that cannot be written in the manifest.
    #[error("`{0}`: a file name that is not UTF-8 cannot be listed")]
    Unnamable(String),
    /// Folders nested deeper than any run directory's.
    #[error("`{0}`: folders nested deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
    /// The file system refused.
    #[error("{path}: {error}")]
    Io {
        /// The path (the directory, or a path inside it).
        path: String,
        /// The OS error (in the message, not chained, so it is said once).
        error: std::io::Error,
    },
}

fn io_err(path: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> ManifestError {
    let path = path.into();
    move |e| ManifestError::Io {
        path,
        error: e.into(),
    }
}

/// Opens a folder (the run directory itself may be reached through a symlink the user
/// named; nothing inside it is).
fn open_dir(dir: &Path) -> Result<OwnedFd, ManifestError> {
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err(dir.display().to_string()))
}

/// Every non-folder entry under `root`, by relative path, without following links.
fn tree(root: &OwnedFd) -> Result<BTreeMap<String, Kind>, ManifestError> {
    let mut out = BTreeMap::new();
    walk(root, "", 0, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &OwnedFd,
    prefix: &str,
    depth: usize,
    out: &mut BTreeMap<String, Kind>,
) -> Result<(), ManifestError> {
    if depth > MAX_DEPTH {
        return Err(ManifestError::TooDeep(prefix.to_string()));
    }
    let here = if prefix.is_empty() { "." } else { prefix };
    let mut names = Vec::new();
    let listing = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .and_then(nix::dir::Dir::from_fd)
    .map_err(io_err(here))?;
    for entry in listing {
        let entry = entry.map_err(io_err(here))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(entry.file_name().to_owned());
        }
    }
    for name in names {
        let text = name.to_string_lossy();
        let rel = if prefix.is_empty() {
            text.into_owned()
        } else {
            format!("{prefix}/{text}")
        };
        if name.to_str().is_err() {
            return Err(ManifestError::Unnamable(rel));
        }
        let stat = fstatat(
            dir,
            name.as_c_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io_err(rel.clone()))?;
        match SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFDIR => {
                let sub = openat(
                    dir,
                    name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(rel.clone()))?;
                walk(&sub, &rel, depth + 1, out)?;
            }
            SFlag::S_IFREG => {
                out.insert(rel, Kind::File);
            }
            SFlag::S_IFLNK => {
                out.insert(rel, Kind::Symlink);
            }
            _ => {
                out.insert(rel, Kind::Special);
            }
        }
    }
    Ok(())
}

/// The SHA-256 of the regular file at `rel` under `root`, opened one component at a
/// time without following any link.
fn digest_at(root: &OwnedFd, rel: &str) -> Result<String, ManifestError> {
    let parts: Vec<&str> = rel.split('/').collect();
    let (last, folders) = parts.split_last().expect("split yields one part at least");
    let mut dir: Option<OwnedFd> = None;
    let refused = |at: usize, e: nix::errno::Errno| match e {
        nix::errno::Errno::ELOOP => ManifestError::NotRegular {
            path: parts[..=at].join("/"),
            kind: Kind::Symlink,
        },
        e => io_err(rel)(e),
    };
    for (i, part) in folders.iter().enumerate() {
        let parent = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
        let next = openat(
            parent,
            *part,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| refused(i, e))?;
        dir = Some(next);
    }
    let parent = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
    // O_NONBLOCK: opening a FIFO put in place of a file must not wait for a writer.
    let fd = openat(
        parent,
        *last,
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| refused(folders.len(), e))?;
    let stat = fstat(&fd).map_err(io_err(rel))?;
    if SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(ManifestError::NotRegular {
            path: rel.to_string(),
            kind: Kind::Special,
        });
    }
    let mut file = std::fs::File::from(fd);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(ManifestError::Io {
                    path: rel.to_string(),
                    error,
                })
            }
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One manifest line for `path` (sha256sum's escaping for `\`, newline and CR).
fn line(digest: &str, path: &str) -> String {
    if path.contains(['\\', '\n', '\r']) {
        let escaped = path
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("\\{digest}  {escaped}\n")
    } else {
        format!("{digest}  {path}\n")
    }
}

/// Writes `DIR/MANIFEST.sha256` over every file in `dir` (atomically) and returns how
/// many it lists. Refuses a directory holding links or special files: it could not
/// vouch for what they point at.
pub fn write(dir: &Path) -> Result<usize, ManifestError> {
    let root = open_dir(dir)?;
    let mut text = String::new();
    let mut listed = 0;
    for (path, kind) in tree(&root)? {
        if path == MANIFEST {
            continue;
        }
        if kind != Kind::File {
            return Err(ManifestError::NotRegular { path, kind });
        }
        text.push_str(&line(&digest_at(&root, &path)?, &path));
        listed += 1;
    }
    crate::files::write_atomic(&dir.join(MANIFEST), text.as_bytes()).map_err(|error| {
        ManifestError::Io {
            path: dir.join(MANIFEST).display().to_string(),
            error,
        }
    })?;
    Ok(listed)
}

/// One manifest line.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its 1-based line number.
    pub line: usize,
    /// The SHA-256, lower-case hex.
    pub digest: String,
    /// The path: relative, with no `.`, `..` or empty component.
    pub path: String,
}

/// Parses a manifest, refusing any path that could reach outside the directory.
pub fn parse(text: &[u8]) -> Result<Vec<Entry>, ManifestError> {
    let text = std::str::from_utf8(text).map_err(|e| ManifestError::Syntax {
        line: text[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1,
        why: "not UTF-8 text".into(),
    })?;
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    if body.is_empty() {
        return Ok(entries);
    }
    for (i, raw) in body.split('\n').enumerate() {
        let line = i + 1;
        let syntax = |why: String| ManifestError::Syntax { line, why };
        let (escaped, rest) = match raw.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (digest, name) = rest
            .split_at_checked(64)
            .filter(|(d, _)| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                syntax(format!(
                    "expected 64 hex digits, two spaces (or a space and `*`) and a path, found `{}`",
                    raw.escape_debug()
                ))
            })?;
        let name = name
            .strip_prefix("  ")
            .or_else(|| name.strip_prefix(" *"))
            .ok_or_else(|| {
                syntax("expected two spaces (or a space and `*`) after the digest".into())
            })?;
        let path = if escaped {
            unescape(name).ok_or_else(|| syntax(format!("bad escape in `{name}`")))?
        } else {
            name.to_string()
        };
        let unsafe_path = |why| ManifestError::UnsafePath {
            line,
            path: path.escape_debug().to_string(),
            why,
        };
        if path.is_empty() {
            return Err(syntax("empty path".into()));
        }
        if path.starts_with('/') {
            return Err(unsafe_path("an absolute path"));
        }
        if path.contains('\0') {
            return Err(unsafe_path("a NUL byte in the path"));
        }
        if path.split('/').any(|c| c == "..") {
            return Err(unsafe_path("`..` leads outside the run directory"));
        }
        if path.split('/').any(|c| c.is_empty() || c == ".") {
            return Err(unsafe_path(
                "not a plain relative path (`.` or an empty component)",
            ));
        }
        if path == MANIFEST {
            return Err(unsafe_path("the manifest cannot list itself"));
        }
        if !seen.insert(path.clone()) {
            return Err(syntax(format!("`{path}` is listed twice")));
        }
        entries.push(Entry {
            line,
            digest: digest.to_ascii_lowercase(),
            path,
        });
    }
    Ok(entries)
}

fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// Reads the manifest at the top of `root`: a regular file, never through a link.
fn read_manifest(root: &OwnedFd, dir: &Path) -> Result<Vec<u8>, ManifestError> {
    let fd = openat(
        root,
        MANIFEST,
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        nix::errno::Errno::ENOENT => ManifestError::Missing {
            dir: dir.to_path_buf(),
        },
        nix::errno::Errno::ELOOP => ManifestError::NotRegular {
            path: MANIFEST.into(),
            kind: Kind::Symlink,
        },
        e => io_err(MANIFEST)(e),
    })?;
    let stat = fstat(&fd).map_err(io_err(MANIFEST))?;
    if SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(ManifestError::NotRegular {
            path: MANIFEST.into(),
            kind: Kind::Special,
        });
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut text)
        .map_err(|error| ManifestError::Io {
            path: MANIFEST.into(),
            error,
        })?;
    if text.len() as u64 > MAX_MANIFEST {
        return Err(ManifestError::Syntax {
            line: 1,
            why: format!("larger than {MAX_MANIFEST} bytes"),
        });
    }
    Ok(text)
}

/// Checks `dir` against its manifest: every listed file present with its digest, and
/// nothing else. An error means the directory could not be checked at all (no or bad
/// manifest, an unsafe path, a listed link).
pub fn verify(dir: &Path) -> Result<Verification, ManifestError> {
    let root = open_dir(dir)?;
    let entries = parse(&read_manifest(&root, dir)?)?;
    let mut present = tree(&root)?;
    present.remove(MANIFEST);
    let mut problems = Vec::new();
    for e in &entries {
        // A folder on the way that is a link or a file: never descended into.
        let mut prefix = String::new();
        for part in e.path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if prefix.len() < e.path.len() {
                if let Some(kind) = present.get(&prefix).filter(|k| **k != Kind::File) {
                    return Err(ManifestError::NotRegular {
                        path: prefix,
                        kind: *kind,
                    });
                }
            }
        }
        match present.remove(&e.path) {
            None => problems.push(Problem::Removed(e.path.clone())),
            Some(Kind::File) => {
                if digest_at(&root, &e.path)? != e.digest {
                    problems.push(Problem::Changed(e.path.clone()));
                }
            }
            Some(kind) => {
                return Err(ManifestError::NotRegular {
                    path: e.path.clone(),
                    kind,
                })
            }
        }
    }
    problems.extend(present.into_iter().map(|(p, k)| Problem::Added(p, k)));
    problems.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    Ok(Verification {
        listed: entries.len(),
        problems,
    })
}

fn path_of(p: &Problem) -> &str {
    match p {
        Problem::Changed(p) | Problem::Added(p, _) | Problem::Removed(p) => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junit.xml"), "<testsuites/>").unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/rig.toml"), "[rig]\n").unwrap();
        assert_eq!(write(dir.path()).unwrap(), 2);
        dir
    }

    #[test]
    fn writes_what_sha256sum_writes() {
        let dir = sealed();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert_eq!(
            text,
            format!(
                "{}  config/rig.toml\n{}  junit.xml\n",
                hex(&Sha256::digest(b"[rig]\n")),
                hex(&Sha256::digest(b"<testsuites/>"))
            )
        );
        let v = verify(dir.path()).unwrap();
        assert_eq!((v.listed, v.problems.len()), (2, 0));
    }

    #[test]
    fn names_each_changed_added_and_removed_file() {
        let dir = sealed();
        std::fs::write(dir.path().join("junit.xml"), "<testsuites></testsuites>").unwrap();
        std::fs::remove_file(dir.path().join("config/rig.toml")).unwrap();
        std::fs::write(dir.path().join("config/extra"), "").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let v = verify(dir.path()).unwrap();
        let shown: Vec<String> = v.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "added: config/extra",
                "removed: config/rig.toml",
                "changed: junit.xml",
                "added: link (symbolic link, not followed)"
            ]
        );
    }

    #[test]
    fn paths_that_could_leave_the_directory_are_refused_by_line() {
        for (path, why) in [
            ("../outside", "`..`"),
            ("config/../../outside", "`..`"),
            ("/etc/passwd", "absolute"),
            ("./junit.xml", "plain relative"),
            ("config//rig.toml", "plain relative"),
            ("MANIFEST.sha256", "list itself"),
        ] {
            let text = format!(
                "{}  junit.xml\n{}  {path}\n",
                "0".repeat(64),
                "a".repeat(64)
            );
            let err = parse(text.as_bytes()).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{MANIFEST} line 2: unsafe path `{path}`")),
                "{err}"
            );
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn bad_lines_are_syntax_errors_and_escapes_round_trip() {
        for bad in [
            "abc  x",
            &format!("{}x", "0".repeat(64)),
            &format!("{} x", "g".repeat(64)),
        ] {
            let err = parse(format!("{bad}\n").as_bytes()).unwrap_err();
            assert!(
                matches!(err, ManifestError::Syntax { line: 1, .. }),
                "{err}"
            );
        }
        let twice = format!("{0}  a\n{0}  a\n", "0".repeat(64));
        assert!(parse(twice.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("listed twice"));
        let odd = "a\\b\nc";
        let written = line(&"0".repeat(64), odd);
        assert!(written.starts_with('\\'));
        assert_eq!(parse(written.as_bytes()).unwrap()[0].path, odd);
        let binary = format!("{} *junit.xml\n", "A".repeat(64));
        assert_eq!(parse(binary.as_bytes()).unwrap()[0].digest, "a".repeat(64));
        assert!(parse(b"").unwrap().is_empty());
    }

    #[test]
    fn a_listed_symlink_is_refused_without_being_followed() {
        let dir = sealed();
        std::fs::remove_file(dir.path().join("junit.xml")).unwrap();
        std::os::unix::fs::symlink("config/rig.toml", dir.path().join("junit.xml")).unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("`junit.xml`: symbolic link"), "{err}");
        // A folder on the way that is a link.
        let dir = sealed();
        std::fs::rename(dir.path().join("config"), dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("config")).unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("`config`: symbolic link"), "{err}");
        // The manifest itself.
        let dir = sealed();
        std::fs::rename(dir.path().join(MANIFEST), dir.path().join("m")).unwrap();
        std::os::unix::fs::symlink("m", dir.path().join(MANIFEST)).unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("`MANIFEST.sha256`: symbolic link"), "{err}");
    }

    #[test]
    fn a_directory_without_a_manifest_cannot_be_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            verify(dir.path()).unwrap_err(),
            ManifestError::Missing { .. }
        ));
    }

    #[test]
    fn a_run_directory_holding_a_link_is_not_sealed() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("x")).unwrap();
        assert!(matches!(
            write(dir.path()).unwrap_err(),
            ManifestError::NotRegular {
                kind: Kind::Symlink,
                ..
            }
        ));
    }
}
