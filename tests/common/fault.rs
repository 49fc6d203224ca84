//! Faults a test injects for real: a small tmpfs that a test fills to the
//! last byte (ENOSPC at whatever write comes next).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of its own, unmounted when dropped. Needs root (CI and the
/// development machines run the suite as root); fails loudly otherwise.
pub struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(kib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs for the full-disk tests (they need root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { path, _dir: dir }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fill(&self) {
        fill(&self.path);
    }

    pub fn free(&self) {
        std::fs::remove_file(self.path.join(".ballast")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem of `dir` with a ballast file: the next write that
/// needs a block fails with ENOSPC.
pub fn fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join(".ballast")).unwrap();
    let block = [0u8; 1024];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&[0u8]).is_ok() {}
    let _ = f.sync_all();
}
