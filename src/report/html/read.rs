//! Reading a run directory as untrusted input: files are opened relative to the
//! directory, never through a symbolic link, only when they are regular files, and
//! read with bounds (each line of `results.jsonl`, the whole of the small files).

use std::fs::File;
use std::io::{BufRead, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use super::HtmlError;

/// The longest line of `results.jsonl` read; a longer one is skipped and counted.
pub const MAX_LINE: usize = 8 << 20;

/// The largest `stats.json` or `evidence.json` read.
pub const MAX_SMALL_FILE: u64 = 32 << 20;

/// Opens the run directory (the directory itself may be reached through a link the
/// user named; nothing inside it is).
pub fn open_dir(dir: &Path) -> Result<OwnedFd, HtmlError> {
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| HtmlError::Io {
        path: dir.display().to_string(),
        source: e.into(),
    })
}

/// Opens `name` at the top of `root`: `None` when it is not there; an error for a
/// symbolic link or anything but a regular file.
pub fn open_in(root: &OwnedFd, name: &str) -> Result<Option<File>, HtmlError> {
    let fd = match openat(
        root,
        name,
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(HtmlError::Symlink { path: name.into() }),
        Err(e) => {
            return Err(HtmlError::Io {
                path: name.into(),
                source: e.into(),
            })
        }
    };
    let stat = fstat(&fd).map_err(|e| HtmlError::Io {
        path: name.into(),
        source: e.into(),
    })?;
    if SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(HtmlError::NotRegular { path: name.into() });
    }
    Ok(Some(File::from(fd)))
}

/// Reads a small file whole, refusing one over [`MAX_SMALL_FILE`].
pub fn read_small(root: &OwnedFd, name: &str) -> Result<Option<Vec<u8>>, HtmlError> {
    let Some(file) = open_in(root, name)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| HtmlError::Io {
            path: name.into(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(HtmlError::TooLarge {
            path: name.into(),
            limit: MAX_SMALL_FILE,
        });
    }
    Ok(Some(bytes))
}

/// Writes `name` at the top of `root` atomically without following any link there: a
/// new temporary file (created exclusively, never through a link), synced, then renamed
/// over `name` (a link named `name` is replaced, not followed).
pub fn write_in(root: &OwnedFd, name: &str, bytes: &[u8]) -> Result<(), HtmlError> {
    use std::io::Write;
    let io = |path: &str| {
        let path = path.to_string();
        move |source: std::io::Error| HtmlError::Io { path, source }
    };
    let tmp = format!(".{name}.{}.tmp", std::process::id());
    let fd = openat(
        root,
        tmp.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(crate::files::FILE_MODE),
    )
    .map_err(|e| io(&tmp)(e.into()))?;
    let mut file = File::from(fd);
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io(&tmp))
        .and_then(|()| {
            nix::fcntl::renameat(root, tmp.as_str(), root, name).map_err(|e| io(name)(e.into()))
        });
    if written.is_err() {
        let _ = nix::unistd::unlinkat(root, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    written
}

/// A line over the limit: its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong(pub usize);

/// Calls `each` with every line (without its newline) of `reader`, numbered from 1;
/// a line longer than `max` bytes is skipped (read past, never held) and reported as
/// [`TooLong`].
pub fn each_line(
    mut reader: impl BufRead,
    max: usize,
    mut each: impl FnMut(usize, Result<&[u8], TooLong>),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader
            .by_ref()
            .take(max as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > max {
            // Past the limit: skip to the end of this line without keeping it.
            loop {
                let available = reader.fill_buf()?;
                if available.is_empty() {
                    break;
                }
                match available.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        reader.consume(i + 1);
                        break;
                    }
                    None => {
                        let all = available.len();
                        reader.consume(all);
                    }
                }
            }
            each(number, Err(TooLong(number)));
            continue;
        }
        each(number, Ok(&buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], max: usize) -> Vec<Result<String, usize>> {
        let mut out = Vec::new();
        each_line(text, max, |_, l| {
            out.push(
                l.map(|b| String::from_utf8_lossy(b).into_owned())
                    .map_err(|t| t.0),
            )
        })
        .unwrap();
        out
    }

    #[test]
    fn a_line_over_the_limit_is_skipped_and_counted() {
        assert_eq!(
            lines(b"ab\n0123456789\ncd", 4),
            vec![Ok("ab".into()), Err(2), Ok("cd".into())]
        );
        assert_eq!(lines(b"abcd\n", 4), vec![Ok("abcd".into())]);
        assert_eq!(lines(b"abcdef", 4), vec![Err(1)]);
    }

    #[test]
    fn a_symlink_or_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real"), "x").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("fifo"), Mode::S_IRWXU).unwrap();
        let root = open_dir(dir.path()).unwrap();
        assert!(open_in(&root, "real").unwrap().is_some());
        assert!(open_in(&root, "absent").unwrap().is_none());
        assert!(matches!(
            open_in(&root, "link"),
            Err(HtmlError::Symlink { .. })
        ));
        assert!(matches!(
            open_in(&root, "fifo"),
            Err(HtmlError::NotRegular { .. })
        ));
    }
}
