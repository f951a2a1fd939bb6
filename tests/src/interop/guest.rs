//! The guest image: built once by `tests/interop/guest/build.sh` and cached outside the
//! repository's tracked files, under `target/interop-guest/` of the workspace (git-ignored)
//! or `$L2TPGW_INTEROP_CACHE`. The cache key is a hash of the recipe (build script, guest
//! `/init`, module list), so editing the recipe rebuilds the guest; downloaded packages are
//! kept in `debs/` beside it and fetched only once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{HarnessError, Result, fnv1a64, interop_dir, now, workspace_root};

/// The recipe files whose content keys the cache.
const RECIPE: [&str; 3] = ["guest/build.sh", "guest/init", "guest/modules.txt"];

/// A built guest: an uncompressed kernel (booted through its PVH entry, so the emulated CPU
/// never runs the xz decompressor) and the rootfs as one uncompressed initramfs.
#[derive(Debug, Clone)]
pub struct GuestImage {
    /// The directory holding the image.
    pub dir: PathBuf,
    /// The kernel to boot: `vmlinux` (ELF with a PVH note) or, failing that, `vmlinuz`.
    pub kernel: PathBuf,
    /// The rootfs initramfs (newc cpio, uncompressed).
    pub initrd: PathBuf,
    /// `manifest.txt`: kernel and client package versions, sizes, build time.
    pub manifest: String,
    /// How long this call spent building it (`None` when it came from the cache).
    pub built_in: Option<Duration>,
}

/// The cache directory: `$L2TPGW_INTEROP_CACHE`, else `<workspace>/target/interop-guest`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("L2TPGW_INTEROP_CACHE").map_or_else(
        || workspace_root().join("target").join("interop-guest"),
        PathBuf::from,
    )
}

/// The cache key of the current recipe (16 hex digits).
pub fn recipe_key() -> Result<String> {
    let mut contents = Vec::new();
    for rel in RECIPE {
        let path = interop_dir(rel);
        contents.push(
            std::fs::read(&path).map_err(|e| HarnessError(format!("{}: {e}", path.display())))?,
        );
    }
    let parts: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    Ok(format!("{:016x}", fnv1a64(&parts)))
}

impl GuestImage {
    /// Returns the cached guest for the current recipe, building it first if needed.
    /// The build's progress goes to stderr (it takes a few minutes on a clean machine).
    pub fn ensure() -> Result<Self> {
        let cache = cache_dir();
        let dir = cache.join(format!("guest-{}", recipe_key()?));
        let mut built_in = None;
        if !dir.join("manifest.txt").is_file() {
            eprintln!(
                "interop: building the guest into {} (cached for later runs)",
                dir.display()
            );
            let start = now();
            let out = Command::new("bash")
                .arg(interop_dir("guest/build.sh"))
                .arg(&dir)
                .arg(cache.join("debs"))
                .status()
                .map_err(|e| HarnessError(format!("cannot run build.sh: {e}")))?;
            if !out.success() {
                return Err(HarnessError(format!(
                    "guest build failed ({out}); see the output above"
                )));
            }
            built_in = Some(now() - start);
        }
        Self::open(&dir, built_in)
    }

    fn open(dir: &Path, built_in: Option<Duration>) -> Result<Self> {
        let manifest = std::fs::read_to_string(dir.join("manifest.txt"))?;
        let vmlinux = dir.join("vmlinux");
        let kernel = if vmlinux.is_file() {
            vmlinux
        } else {
            dir.join("vmlinuz")
        };
        let initrd = dir.join("rootfs.cpio");
        for f in [&kernel, &initrd] {
            if !f.is_file() {
                return Err(HarnessError(format!(
                    "guest image incomplete: {} missing",
                    f.display()
                )));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            kernel,
            initrd,
            manifest,
            built_in,
        })
    }

    /// A `key value` line of the manifest (`build_seconds`, `rootfs_cpio_bytes`, ...).
    pub fn manifest_value(&self, key: &str) -> Option<&str> {
        self.manifest
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
    }
}
