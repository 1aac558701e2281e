//! Reading ADFA-LD (Creech & Hu 2013).
//!
//! Layout: `Training_Data_Master/*.txt` (833 normal traces),
//! `Validation_Data_Master/*.txt` (4,372 normal traces) and
//! `Attack_Data_Master/<Family>_<N>/*.txt` (746 attack traces in 60
//! directories, six families). Each file is one process's system calls as
//! whitespace-separated i386 numbers. The three directories may sit in the
//! given directory or in its `ADFA-LD/` subdirectory; the i386 → x86_64
//! table `adfa_i386_to_x86_64.tsv` sits in the given directory.
use super::vocab::{COMPAT_BASE, UNKNOWN};
use std::path::{Path, PathBuf};

/// Why the data set does not load.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Content that is not what the layout says.
    #[error("{path}: {what}")]
    Bad {
        /// Where.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TraceError + '_ {
    move |source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad(path: &Path, what: impl Into<String>) -> TraceError {
    TraceError::Bad {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// One trace: a process's system calls as tokens.
#[derive(Debug, Clone)]
pub struct Trace {
    /// File name relative to the data set root (for the scores CSV).
    pub name: String,
    /// Attack family (`Adduser`, `Web_Shell`, …); `None` for normal traces.
    pub family: Option<String>,
    /// Tokens (see [`super::vocab`]).
    pub calls: Vec<u16>,
}

/// ADFA-LD, loaded.
#[derive(Debug)]
pub struct Adfa {
    /// Normal traces to fit on.
    pub training: Vec<Trace>,
    /// Normal traces never seen in training (the negatives).
    pub validation: Vec<Trace>,
    /// Attack traces (the positives).
    pub attack: Vec<Trace>,
}

/// The i386 → token table read from `adfa_i386_to_x86_64.tsv`.
#[derive(Debug)]
pub struct Mapping {
    table: Vec<u16>,
}

impl Mapping {
    /// Reads the TSV (`i386_nr`, `x86_64_nr` (-1: i386 only), …).
    pub fn read(path: &Path) -> Result<Self, TraceError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut table = vec![UNKNOWN; usize::from(COMPAT_BASE)];
        for (i, line) in text.lines().enumerate().skip(1) {
            let mut cols = line.split('\t');
            let (Some(a), Some(b)) = (cols.next(), cols.next()) else {
                return Err(bad(path, format!("line {}: fewer than 2 columns", i + 1)));
            };
            let parse = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| bad(path, format!("line {}: {s:?} is not a number", i + 1)))
            };
            let (i386, x64) = (parse(a)?, parse(b)?);
            let slot = usize::try_from(i386)
                .ok()
                .filter(|&n| n < table.len())
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("line {}: i386 number {i386} out of range", i + 1),
                    )
                })?;
            table[slot] = match x64 {
                -1 => COMPAT_BASE + slot as u16,
                n if (0..i64::from(COMPAT_BASE)).contains(&n) => n as u16,
                n => {
                    return Err(bad(
                        path,
                        format!("line {}: x86_64 number {n} out of range", i + 1),
                    ))
                }
            };
        }
        Ok(Self { table })
    }

    /// The token of i386 call `nr` ([`UNKNOWN`] when the table lacks it).
    pub fn token(&self, nr: u32) -> u16 {
        self.table.get(nr as usize).copied().unwrap_or(UNKNOWN)
    }
}

/// Reads one trace file.
pub fn read_trace(path: &Path, map: &Mapping) -> Result<Vec<u16>, TraceError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    text.split_ascii_whitespace()
        .enumerate()
        .map(|(i, w)| {
            w.parse::<u32>().map(|n| map.token(n)).map_err(|_| {
                bad(
                    path,
                    format!("word {}: {w:?} is not a syscall number", i + 1),
                )
            })
        })
        .collect()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let mut v = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()).map_err(io(dir)))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort();
    Ok(v)
}

fn read_dir_traces(
    root: &Path,
    dir: &Path,
    family: Option<&str>,
    map: &Mapping,
) -> Result<Vec<Trace>, TraceError> {
    let mut out = Vec::new();
    for p in sorted_entries(dir)? {
        if p.extension().is_some_and(|e| e == "txt") && p.is_file() {
            out.push(Trace {
                name: p.strip_prefix(root).unwrap_or(&p).display().to_string(),
                family: family.map(str::to_string),
                calls: read_trace(&p, map)?,
            });
        }
    }
    Ok(out)
}

/// The family of an attack directory name (`Hydra_FTP_3` → `Hydra_FTP`).
pub fn family_of(dir_name: &str) -> &str {
    match dir_name.rsplit_once('_') {
        Some((f, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => f,
        _ => dir_name,
    }
}

/// Where the three `*_Data_Master` directories are under `dir`.
fn masters(dir: &Path) -> Result<PathBuf, TraceError> {
    for cand in [dir.join("ADFA-LD"), dir.to_path_buf()] {
        if cand.join("Training_Data_Master").is_dir() {
            return Ok(cand);
        }
    }
    Err(bad(
        dir,
        "no Training_Data_Master directory here or in ADFA-LD/ (is this ADFA-LD?)",
    ))
}

impl Adfa {
    /// Loads the whole data set from `dir`.
    pub fn load(dir: &Path) -> Result<Self, TraceError> {
        let map = Mapping::read(&dir.join("adfa_i386_to_x86_64.tsv"))?;
        Self::load_with(dir, &map)
    }

    /// Loads the data set with an explicit mapping.
    pub fn load_with(dir: &Path, map: &Mapping) -> Result<Self, TraceError> {
        let root = masters(dir)?;
        let training = read_dir_traces(&root, &root.join("Training_Data_Master"), None, map)?;
        let validation = read_dir_traces(&root, &root.join("Validation_Data_Master"), None, map)?;
        let mut attack = Vec::new();
        let attack_dir = root.join("Attack_Data_Master");
        for d in sorted_entries(&attack_dir)? {
            if d.is_dir() {
                let name = d
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                attack.extend(read_dir_traces(&root, &d, Some(family_of(&name)), map)?);
            }
        }
        if training.is_empty() {
            return Err(bad(&root, "Training_Data_Master holds no .txt trace"));
        }
        Ok(Self {
            training,
            validation,
            attack,
        })
    }

    /// Loads only the training traces (what `model train` needs).
    pub fn load_training(dir: &Path) -> Result<Vec<Trace>, TraceError> {
        let map = Mapping::read(&dir.join("adfa_i386_to_x86_64.tsv"))?;
        let root = masters(dir)?;
        let t = read_dir_traces(&root, &root.join("Training_Data_Master"), None, &map)?;
        if t.is_empty() {
            return Err(bad(&root, "Training_Data_Master holds no .txt trace"));
        }
        Ok(t)
    }
}

/// Normal traces in x86_64 numbering (what the live sensor streams): every
/// `*.txt` file of `dir`, in name order, holding whitespace-separated
/// syscall numbers.
pub fn load_native(dir: &Path) -> Result<Vec<Trace>, TraceError> {
    let mut out = Vec::new();
    for p in sorted_entries(dir)? {
        if !(p.extension().is_some_and(|e| e == "txt") && p.is_file()) {
            continue;
        }
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        let calls = text
            .split_ascii_whitespace()
            .enumerate()
            .map(|(i, w)| {
                w.parse::<u32>()
                    .map(super::vocab::token)
                    .map_err(|_| bad(&p, format!("word {}: {w:?} is not a syscall number", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Trace {
            name: p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            family: None,
            calls,
        });
    }
    if out.is_empty() {
        return Err(bad(dir, "holds no .txt trace"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_traces_are_read_in_x86_64_numbering() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "0 1\n257 3").unwrap();
        std::fs::write(dir.path().join("a.txt"), "59").unwrap();
        std::fs::write(dir.path().join("skip.csv"), "x").unwrap();
        let t = load_native(dir.path()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].calls, vec![super::super::vocab::token(59)]);
        assert_eq!(t[1].calls.len(), 4);
        std::fs::write(dir.path().join("c.txt"), "1 x").unwrap();
        let e = load_native(dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.txt") && e.contains("word 2"), "{e}");
    }

    #[test]
    fn families_drop_the_run_number() {
        assert_eq!(family_of("Hydra_FTP_3"), "Hydra_FTP");
        assert_eq!(family_of("Adduser_10"), "Adduser");
        assert_eq!(family_of("Web_Shell"), "Web_Shell");
    }

    #[test]
    fn mapping_and_trace_errors_name_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = dir.path().join("map.tsv");
        std::fs::write(&tsv, "i386_nr\tx86_64_nr\n3\t0\n7\t-1\n").unwrap();
        let map = Mapping::read(&tsv).unwrap();
        assert_eq!(map.token(3), 0);
        assert_eq!(map.token(7), COMPAT_BASE + 7);
        assert_eq!(map.token(9), UNKNOWN);
        let t = dir.path().join("t.txt");
        std::fs::write(&t, "3 7 x").unwrap();
        let e = read_trace(&t, &map).unwrap_err().to_string();
        assert!(e.contains("t.txt") && e.contains("word 3"), "{e}");
        std::fs::write(&tsv, "h\n3\tz\n").unwrap();
        let e = Mapping::read(&tsv).unwrap_err().to_string();
        assert!(e.contains("map.tsv") && e.contains("line 2"), "{e}");
    }
}
