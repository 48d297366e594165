//! Output destinations: a file written atomically, or standard output for `-`.
use std::{
    fs,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use tempfile::NamedTempFile;

use crate::{Error, Result};

/// A buffered output that becomes visible under its final name only on [`Output::finish`].
///
/// Dropping an unfinished `Output` deletes the temporary file, so an error or a
/// crash never leaves a partial result where a pipeline would pick it up. The file
/// is not fsynced: the rename protects against a failed run, not a power cut, and
/// syncing a multi-gigabyte output would cost more than the work that made it.
///
/// ```
/// use std::io::Write;
/// use cisformer::io::output::Output;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.txt");
/// let mut out = Output::create(&path).unwrap();
/// writeln!(out, "hello").unwrap();
/// assert!(!path.exists());
/// out.finish().unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
/// ```
pub struct Output {
    path: PathBuf,
    inner: Inner,
}

enum Inner {
    Stdout(BufWriter<io::Stdout>),
    File(BufWriter<NamedTempFile>, Pending),
    /// An existing device or pipe (`/dev/null`, a FIFO): written in place, since
    /// renaming a temporary file over it would replace the device with a plain file.
    Special(BufWriter<fs::File>),
}

impl Output {
    /// Opens `path` for writing (`-` is standard output). The parent directory must exist.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path == Path::new("-") {
            return Ok(Self {
                path,
                inner: Inner::Stdout(BufWriter::with_capacity(1 << 17, io::stdout())),
            });
        }
        if fs::metadata(&path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            return Ok(Self {
                path,
                inner: Inner::Special(BufWriter::with_capacity(1 << 17, file)),
            });
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::io(
                &path,
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("output directory {} does not exist", dir.display()),
                ),
            ));
        }
        // Created and registered under the registry's lock, so an interrupt's cleanup
        // either sees the file or runs before it exists.
        let mut pending = pending_paths();
        let tmp = tempfile::Builder::new()
            .prefix(".cisformer-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&path, e))?;
        pending.push(tmp.path().to_path_buf());
        drop(pending);
        let registered = Pending(tmp.path().to_path_buf());
        Ok(Self {
            path,
            inner: Inner::File(BufWriter::with_capacity(1 << 17, tmp), registered),
        })
    }

    /// The path this output will have once finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and moves the file into place (or flushes standard output).
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        match self.inner {
            Inner::Stdout(mut w) => w.flush().map_err(|e| Error::io(&path, e)),
            Inner::Special(mut w) => w.flush().map_err(|e| Error::io(&path, e)),
            Inner::File(w, _registered) => {
                let tmp = w
                    .into_inner()
                    .map_err(|e| Error::io(&path, e.into_error()))?;
                // Temp files are created 0600; results should get the usual permissions.
                set_default_permissions(tmp.path());
                tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
                Ok(())
            }
        }
    }

    /// Wraps an `io::Error` raised while writing this output with its path.
    pub fn err(&self, e: io::Error) -> Error {
        Error::io(&self.path, e)
    }
}

/// Paths to delete if the process is interrupted: the temporary files of unfinished
/// outputs, and whatever else [`remove_on_interrupt`] registered.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending_paths() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves a valid list; keep using it.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// An unfinished output's temporary file, unregistered once it is renamed or dropped.
struct Pending(PathBuf);

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = pending_paths();
        if let Some(i) = pending.iter().rposition(|p| *p == self.0) {
            pending.swap_remove(i);
        }
    }
}

/// Writes `path` whole or not at all: `body` fills an [`Output`], which is committed only
/// when it returns without error.
pub fn write_file(path: &Path, body: impl FnOnce(&mut Output) -> io::Result<()>) -> Result<()> {
    let mut out = Output::create(path)?;
    body(&mut out).map_err(|e| out.err(e))?;
    out.finish()
}

/// Registers a temporary file or folder (written by other means than [`Output`]) to be
/// deleted by [`remove_pending_on_interrupt`]; it stays registered for the whole run.
pub fn remove_on_interrupt(path: impl Into<PathBuf>) {
    pending_paths().push(path.into());
}

/// Deletes every registered temporary file and folder, for a Ctrl-C or SIGTERM handler
/// that then exits: dropping them is what a normal error would have done, and the
/// handler's exit runs no destructors. Returns with the registry locked, so no new
/// temporary file is created before the process ends; call it only on the way out.
pub fn remove_pending_on_interrupt() {
    let pending = pending_paths();
    for p in pending.iter() {
        if fs::remove_file(p).is_err() {
            let _ = fs::remove_dir_all(p);
        }
    }
    std::mem::forget(pending);
}

/// Refuses outputs that would replace one of the inputs, or each other.
///
/// Writing goes through a temporary file renamed over the output, so `-o genome.fa`
/// with `-f genome.fa` would succeed and leave only the result. Two paths are the same
/// file when they name the same inode (hard links, symlinks, `./x` and `x`) or, for an
/// output that does not exist yet, when its resolved directory and name are the input's.
/// `-` and devices (`/dev/null`) are never compared: they are streams, not files.
pub fn check_outputs<'a>(
    inputs: impl IntoIterator<Item = &'a Path>,
    outputs: impl IntoIterator<Item = &'a Path>,
) -> Result<()> {
    let inputs: Vec<&Path> = inputs.into_iter().filter(|p| is_file_path(p)).collect();
    let outputs: Vec<&Path> = outputs.into_iter().filter(|p| is_file_path(p)).collect();
    for (i, out) in outputs.iter().enumerate() {
        if let Some(input) = inputs.iter().find(|input| same_file(out, input)) {
            return Err(Error::Invalid(format!(
                "output {} is the input {}: writing it would destroy the input; choose another output path",
                out.display(),
                input.display()
            )));
        }
        if let Some(other) = outputs[..i].iter().find(|o| same_file(out, o)) {
            return Err(Error::Invalid(format!(
                "outputs {} and {} are the same file; give them different paths",
                other.display(),
                out.display()
            )));
        }
    }
    Ok(())
}

/// Whether `p` can name a regular file (not `-`, not an existing device, pipe or folder).
fn is_file_path(p: &Path) -> bool {
    p != Path::new("-")
        && !p.as_os_str().is_empty()
        && fs::metadata(p).map(|m| m.is_file()).unwrap_or(true)
}

fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
        }
        #[cfg(not(unix))]
        {
            let _ = (ma, mb);
        }
    }
    resolve(a) == resolve(b)
}

/// The canonical path of `p`, or of its parent joined with its name when `p` does not
/// exist yet, or the absolute path as written when neither resolves.
fn resolve(p: &Path) -> PathBuf {
    if let Ok(c) = fs::canonicalize(p) {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (fs::canonicalize(parent), p.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
    }
}

#[cfg(unix)]
fn set_default_permissions(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o644));
}

#[cfg(not(unix))]
fn set_default_permissions(_: &Path) {}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Stdout(w) => w.write(buf),
            Inner::File(w, _) => w.write(buf),
            Inner::Special(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Inner::Stdout(w) => w.write_all(buf),
            Inner::File(w, _) => w.write_all(buf),
            Inner::Special(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Stdout(w) => w.flush(),
            Inner::File(w, _) => w.flush(),
            Inner::Special(w) => w.flush(),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn outputs_that_are_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("g.fa");
        fs::write(&input, ">c\nACGT\n").unwrap();
        let dotted = dir.path().join(".").join("g.fa");
        let e = check_outputs([input.as_path()], [dotted.as_path()]).unwrap_err();
        assert!(e.to_string().contains("is the input"), "{e}");
        let link = dir.path().join("link.fa");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        assert!(check_outputs([input.as_path()], [link.as_path()]).is_err());
        let hard = dir.path().join("hard.fa");
        fs::hard_link(&input, &hard).unwrap();
        assert!(check_outputs([input.as_path()], [hard.as_path()]).is_err());
        let fresh = dir.path().join("out.fa");
        check_outputs([input.as_path()], [fresh.as_path()]).unwrap();
        assert!(check_outputs([], [fresh.as_path(), fresh.as_path()]).is_err());
        check_outputs([Path::new("-")], [Path::new("-"), Path::new("/dev/null")]).unwrap();
    }

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        let null = Path::new("/dev/null");
        if !fs::metadata(null).is_ok_and(|m| m.file_type().is_char_device()) {
            eprintln!("/dev/null is not a character device here; nothing to check");
            return;
        }
        let mut out = Output::create(null).unwrap();
        writeln!(out, "discarded").unwrap();
        out.finish().unwrap();
        let meta = fs::metadata(null).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.len(), 0);
    }
}
