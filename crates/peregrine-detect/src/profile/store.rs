//! Profiles on disk: one versioned JSON file per profile in a directory,
//! written atomically (a temporary file renamed over the old one).
//!
//! ```json
//! {"format": "peregrine-profile", "version": 1, "profile": {"unit": "image:nginx:1.27", …}}
//! ```
//!
//! Unknown keys, another format or version, and malformed JSON are errors
//! naming the file.

use super::Profile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file format's version.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "peregrine-profile";

/// A profile file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("profile file {}: {message}", path.display())]
pub struct ProfileFileError {
    /// The file (or directory).
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl ProfileFileError {
    fn new(path: &Path, message: impl Into<String>) -> ProfileFileError {
        ProfileFileError {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    format: String,
    version: u32,
    profile: Profile,
}

#[derive(Serialize)]
struct FileBodyRef<'a> {
    format: &'a str,
    version: u32,
    profile: &'a Profile,
}

/// The file name of `unit`'s profile: the unit with unsafe characters as
/// `_`, and a checksum of the whole unit so two units never share a file.
pub fn file_name(unit: &str) -> String {
    let safe: String = unit
        .chars()
        .take(80)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
            _ => '_',
        })
        .collect();
    format!("{safe}-{:08x}.json", crc32fast::hash(unit.as_bytes()))
}

/// Read one profile file.
pub fn read(path: &Path) -> Result<Profile, ProfileFileError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ProfileFileError::new(path, e.to_string()))?;
    parse(&text).map_err(|m| ProfileFileError::new(path, m))
}

/// Parse a profile file's text; the message says what is wrong.
pub fn parse(text: &str) -> Result<Profile, String> {
    let head: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let format = head.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT_NAME) {
        return Err(format!(
            "not a profile file (\"format\" is not \"{FORMAT_NAME}\")"
        ));
    }
    let version = head.get("version").and_then(|v| v.as_u64());
    if version != Some(FORMAT_VERSION as u64) {
        return Err(format!(
            "profile format version {} is not supported (this agent reads version {FORMAT_VERSION})",
            version.map_or("missing".to_string(), |v| v.to_string())
        ));
    }
    let body: FileBody = serde_json::from_value(head).map_err(|e| e.to_string())?;
    Ok(body.profile)
}

/// The text of `profile`'s file.
pub fn render(profile: &Profile) -> String {
    let body = FileBodyRef {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        profile,
    };
    let mut s = serde_json::to_string_pretty(&body).unwrap_or_default();
    s.push('\n');
    s
}

/// Write `profile` into `dir` (created when missing); the file written.
pub fn write(dir: &Path, profile: &Profile) -> Result<PathBuf, ProfileFileError> {
    std::fs::create_dir_all(dir).map_err(|e| ProfileFileError::new(dir, e.to_string()))?;
    let path = dir.join(file_name(&profile.unit));
    let tmp = dir.join(format!(".{}.tmp", file_name(&profile.unit)));
    std::fs::write(&tmp, render(profile))
        .map_err(|e| ProfileFileError::new(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| ProfileFileError::new(&path, e.to_string()))?;
    Ok(path)
}

/// Every profile in `dir` (`*.json`, in name order); a missing directory
/// holds none. The first bad file is the error.
pub fn load_dir(dir: &Path) -> Result<Vec<Profile>, ProfileFileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ProfileFileError::new(dir, e.to_string())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Item, ItemKind, ProfileSet, ProfileSettings};

    #[test]
    fn round_trips_and_keeps_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = ProfileSet::new(ProfileSettings::default());
        set.observe(
            "image:app:1",
            &[Item::new(ItemKind::Executable, "/bin/sh")],
            10,
        );
        set.monitor("image:app:1", 20);
        let p = set.get("image:app:1").unwrap();
        let path = write(dir.path(), p).unwrap();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("image_app_1-"));
        let loaded = load_dir(dir.path()).unwrap();
        assert_eq!(loaded.len(), 1);
        let mut want = p.clone();
        want.dirty = false;
        assert_eq!(loaded[0], want);
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.json");
        let cases = [
            ("{not json", "key must be a string"),
            (r#"{"format":"other","version":1}"#, "not a profile file"),
            (
                r#"{"format":"peregrine-profile","version":9,"profile":{}}"#,
                "version 9 is not supported",
            ),
            (
                r#"{"format":"peregrine-profile","version":1,"profile":{"unit":"u","mode":"learning","created_s":1,"last_new_s":1,"items":{},"extra":1}}"#,
                "unknown field `extra`",
            ),
            (
                r#"{"format":"peregrine-profile","version":1,"profile":{"unit":"u","mode":"enforce","created_s":1,"last_new_s":1,"items":{}}}"#,
                "unknown variant `enforce`",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&f, text).unwrap();
            let e = load_dir(dir.path()).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("profile file {}: ", f.display())),
                "{e}"
            );
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn a_missing_directory_holds_no_profiles() {
        assert!(load_dir(Path::new("/nonexistent/pg-profiles"))
            .unwrap()
            .is_empty());
    }
}
