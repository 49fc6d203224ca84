//! How pitwall writes files: never half-written, never through a link,
//! readable by the owner only (state files name images and hold evidence,
//! incidents hold logs, caches hold code that runs).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` and its missing parents; those it creates are 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes `bytes` to a temporary file (0600) beside `path`, syncs it,
/// renames it over `path` and syncs the directory, so a crash leaves the old
/// or the new content, never a mix. A link at `path` is replaced, not
/// followed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(path)
}

/// Like [`write_atomic`], but fails with `AlreadyExists` when `path` exists:
/// the file appears complete or not at all (a hard link of the finished
/// temporary file), so a reader never sees it empty.
pub fn create_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(path)
}

/// Opens `path` for appending, creating it 0600; refuses a symbolic link.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other(format!(
                    "{} is a symbolic link; pitwall does not write through links (remove it)",
                    path.display()
                ))
            } else {
                e
            }
        })
}

/// Reads a regular file of at most `max` bytes. A FIFO, a device or a
/// directory is refused without blocking on it or reading it forever.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than the {max} bytes allowed",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "more than the {max} bytes allowed"
        )));
    }
    Ok(bytes)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn write_temp(path: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    create_private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pitwall-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(parent(path))?.sync_all()
}
