//! What a Docker client's IMAGE means to ferry, which runs no images and pulls none:
//! - `host` (or `host:TAG`): the host's own programs, no root filesystem of its own;
//! - an absolute path: that directory as the root filesystem (API clients only: the docker
//!   CLI refuses a path as an image reference);
//! - any other `NAME[:TAG]`: the directory `DATA_ROOT/rootfs/NAME` (a directory or a symbolic
//!   link to one, put there by the user; the tag is ignored), which `docker images` lists.
//!
//! Anything else is refused with what IMAGE may be.

use ferry_types::FerryError;
use std::path::{Component, Path, PathBuf};

/// The reserved image name for the host's programs.
pub const HOST_IMAGE: &str = "host";

/// What an IMAGE stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// The host's programs.
    Host,
    /// A root filesystem directory.
    Rootfs(String),
}

/// The directory under the data root where named root filesystems live.
pub fn rootfs_dir(data_root: &Path) -> PathBuf {
    data_root.join("rootfs")
}

/// What ferry accepts as IMAGE, for error messages.
pub fn help(rootfs_dir: &Path) -> String {
    format!(
        "ferry runs no images and pulls none: give IMAGE as {HOST_IMAGE} (the host's programs), as NAME for the root filesystem directory {}/NAME, or (API clients) as an absolute path to a root filesystem directory",
        rootfs_dir.display()
    )
}

/// The name part of `NAME[:TAG][@DIGEST]`.
pub fn name_of(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// Resolves an IMAGE (see the module's description); `rootfs_dir` is [`rootfs_dir`].
pub fn resolve(image: &str, rootfs_dir: &Path) -> Result<Image, FerryError> {
    if image.is_empty() {
        return Err(FerryError::invalid(format!(
            "no IMAGE given; {}",
            help(rootfs_dir)
        )));
    }
    if image.starts_with('/') {
        return if Path::new(image).is_dir() {
            Ok(Image::Rootfs(image.to_string()))
        } else {
            Err(FerryError::not_found(format!(
                "No such image: {image}: not a directory; {}",
                help(rootfs_dir)
            )))
        };
    }
    let name = name_of(image);
    if name == HOST_IMAGE {
        return Ok(Image::Host);
    }
    let rel = Path::new(name);
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    let dir = rootfs_dir.join(rel);
    if plain && dir.is_dir() {
        return Ok(Image::Rootfs(dir.display().to_string()));
    }
    Err(FerryError::not_found(format!("No such image: {image}")))
}

/// The IMAGE a sandbox shows: `host` without a root filesystem, `NAME` for one under
/// `rootfs_dir`, else its path.
pub fn shown(rootfs: &str, rootfs_dir: &Path) -> String {
    if rootfs.is_empty() {
        return HOST_IMAGE.to_string();
    }
    Path::new(rootfs)
        .strip_prefix(rootfs_dir)
        .ok()
        .and_then(|p| p.to_str())
        .filter(|p| !p.is_empty())
        .unwrap_or(rootfs)
        .to_string()
}

/// The names `docker images` lists: the directories under `rootfs_dir`.
pub fn list(rootfs_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(rootfs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_digests() {
        assert_eq!(name_of("host"), "host");
        assert_eq!(name_of("host:latest"), "host");
        assert_eq!(name_of("registry:5000/alpine"), "registry:5000/alpine");
        assert_eq!(name_of("alpine:3.19@sha256:ab"), "alpine");
    }

    #[test]
    fn resolves_host_paths_and_named_directories() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("rootfs");
        std::fs::create_dir_all(root.join("alpine")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        assert_eq!(resolve("host", &root).unwrap(), Image::Host);
        assert_eq!(resolve("host:latest", &root).unwrap(), Image::Host);
        let alpine = root.join("alpine").display().to_string();
        assert_eq!(
            resolve("alpine:3.19", &root).unwrap(),
            Image::Rootfs(alpine.clone())
        );
        assert_eq!(resolve(&alpine, &root).unwrap(), Image::Rootfs(alpine));
        let e = resolve("busybox", &root).unwrap_err();
        assert_eq!(e.message, "No such image: busybox");
        assert!(resolve("../rootfs/alpine", &root).is_err());
        assert!(resolve("/nonexistent", &root).is_err());
        assert!(resolve("", &root)
            .unwrap_err()
            .message
            .contains("ferry runs no images"));
        assert_eq!(list(&root), vec!["alpine".to_string()]);
        assert_eq!(shown("", &root), "host");
        assert_eq!(
            shown(&root.join("alpine").display().to_string(), &root),
            "alpine"
        );
        assert_eq!(shown("/srv/x", &root), "/srv/x");
        assert!(list(&d.path().join("none")).is_empty());
    }
}
