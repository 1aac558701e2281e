//! The model file: versioned, length-checked, checksummed.
//!
//! ```text
//! magic    8 bytes  "PRGNMODL"
//! version  u16 LE   1
//! kind     u16 LE   1 = ngram (STIDE), 2 = kn (Kneser-Ney)
//! length   u64 LE   payload bytes (the file is exactly 24 + length bytes)
//! crc32    u32 LE   CRC-32 of the payload
//! payload:
//!   window u32, threshold f64, trained_on u32, order u8
//!   ngram:  count u64, then count × n-gram key u64
//!   kn:     order × discount f64, then per order k = 1..=order:
//!           count u64, then count × (key u64, count u32)
//! ```
//! Every count is checked against the bytes left before anything is
//! allocated, every key against its order, every number against its range;
//! a bad file is an error naming the file and what is wrong.
use super::kneser::KneserNey;
use super::stide::Stide;
use super::vocab::{fits, MAX_ORDER};
use super::{Body, Model};
use rustc_hash::{FxHashMap, FxHashSet};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PRGNMODL";
const VERSION: u16 = 1;
const HEADER: usize = 24;
/// Largest model file accepted (the full ADFA-LD Kneser-Ney model is 1.7 MB).
pub const MAX_FILE: u64 = 1 << 30;
const MAX_WINDOW: u32 = 1 << 16;

/// A model file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("model file {}: {what}", path.display())]
pub struct ModelFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

fn err(path: &Path, what: impl Into<String>) -> ModelFileError {
    ModelFileError {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Encodes a model.
pub fn encode(m: &Model) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(m.window.to_le_bytes());
    p.extend(m.threshold.to_le_bytes());
    p.extend(m.trained_on.to_le_bytes());
    p.push(m.order() as u8);
    let kind: u16 = match &m.body {
        Body::Stide(s) => {
            let mut keys: Vec<u64> = s.grams().iter().copied().collect();
            keys.sort_unstable();
            p.extend((keys.len() as u64).to_le_bytes());
            keys.iter().for_each(|k| p.extend(k.to_le_bytes()));
            1
        }
        Body::KneserNey(k) => {
            k.discounts().iter().for_each(|d| p.extend(d.to_le_bytes()));
            for table in k.grams() {
                let mut e: Vec<(u64, u32)> = table.iter().map(|(&a, &b)| (a, b)).collect();
                e.sort_unstable();
                p.extend((e.len() as u64).to_le_bytes());
                for (key, c) in e {
                    p.extend(key.to_le_bytes());
                    p.extend(c.to_le_bytes());
                }
            }
            2
        }
    };
    let mut out = Vec::with_capacity(HEADER + p.len());
    out.extend(MAGIC);
    out.extend(VERSION.to_le_bytes());
    out.extend(kind.to_le_bytes());
    out.extend((p.len() as u64).to_le_bytes());
    out.extend(crc32fast::hash(&p).to_le_bytes());
    out.extend(p);
    out
}

/// Writes `m` to `path`.
pub fn save(m: &Model, path: &Path) -> Result<(), ModelFileError> {
    std::fs::write(path, encode(m)).map_err(|e| err(path, format!("cannot write: {e}")))
}

/// Reads a model from `path`.
pub fn load(path: &Path) -> Result<Model, ModelFileError> {
    let len = std::fs::metadata(path)
        .map_err(|e| err(path, format!("cannot read: {e}")))?
        .len();
    if len > MAX_FILE {
        return Err(err(
            path,
            format!("{len} bytes, more than the {MAX_FILE} accepted"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    decode(&bytes).map_err(|what| err(path, what))
}

/// A bounded little-endian reader over the payload.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("truncated in {what} at payload byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn f64(&mut self, what: &str) -> Result<f64, String> {
        Ok(f64::from_bits(self.u64(what)?))
    }
    /// A count of `elem`-byte records that must fit in what is left.
    fn count(&mut self, elem: usize, what: &str) -> Result<usize, String> {
        let n = self.u64(what)?;
        let left = (self.buf.len() - self.pos) / elem;
        if n > left as u64 {
            return Err(format!(
                "{what} claims {n} entries but only {left} fit in the bytes left"
            ));
        }
        Ok(n as usize)
    }
}

fn header(bytes: &[u8]) -> Result<(u16, &[u8]), String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "{} bytes, shorter than the {HEADER}-byte header",
            bytes.len()
        ));
    }
    if &bytes[..8] != MAGIC {
        return Err("not a Peregrine model (bad magic)".into());
    }
    let word = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let version = word(8);
    if version != VERSION {
        return Err(format!(
            "format version {version}, this build reads version {VERSION}"
        ));
    }
    let kind = word(10);
    let declared = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
    let actual = (bytes.len() - HEADER) as u64;
    if declared != actual {
        return Err(format!(
            "header declares a {declared}-byte payload, the file holds {actual}"
        ));
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap_or_default());
    let payload = &bytes[HEADER..];
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch (corrupt file)".into());
    }
    Ok((kind, payload))
}

/// Decodes a model file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Model, String> {
    let (kind, payload) = header(bytes)?;
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let window = r.u32("window")?;
    if window == 0 || window > MAX_WINDOW {
        return Err(format!("window {window} out of range 1..={MAX_WINDOW}"));
    }
    let threshold = r.f64("threshold")?;
    if !threshold.is_finite() {
        return Err("threshold is not a finite number".into());
    }
    let trained_on = r.u32("trained_on")?;
    let order = usize::from(r.u8("order")?);
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(format!("order {order} out of range 1..={MAX_ORDER}"));
    }
    let body = match kind {
        1 => Body::Stide(read_stide(&mut r, order)?),
        2 => Body::KneserNey(read_kn(&mut r, order)?),
        k => return Err(format!("unknown model kind {k}")),
    };
    if r.pos != payload.len() {
        return Err(format!(
            "{} unexpected bytes after the model",
            payload.len() - r.pos
        ));
    }
    Ok(Model {
        body,
        window,
        threshold,
        trained_on,
    })
}

fn read_stide(r: &mut Reader, n: usize) -> Result<Stide, String> {
    let count = r.count(8, "n-gram set")?;
    let mut seen = FxHashSet::default();
    seen.reserve(count);
    for i in 0..count {
        let key = r.u64("n-gram set")?;
        if !fits(key, n) {
            return Err(format!("n-gram {i} has tokens beyond its length {n}"));
        }
        seen.insert(key);
    }
    Ok(Stide::from_parts(n, seen))
}

fn read_kn(r: &mut Reader, order: usize) -> Result<KneserNey, String> {
    let mut discounts = Vec::with_capacity(order);
    for k in 1..=order {
        let d = r.f64("discounts")?;
        if !(d > 0.0 && d < 1.0) {
            return Err(format!("discount of order {k} is {d}, not in (0, 1)"));
        }
        discounts.push(d);
    }
    let mut grams = Vec::with_capacity(order);
    for k in 1..=order {
        let what = format!("order-{k} table");
        let count = r.count(12, &what)?;
        let mut table = FxHashMap::default();
        table.reserve(count);
        for i in 0..count {
            let key = r.u64(&what)?;
            let c = r.u32(&what)?;
            if !fits(key, k) || c == 0 {
                return Err(format!("{what} entry {i}: bad key or zero count"));
            }
            if table.insert(key, c).is_some() {
                return Err(format!("{what} entry {i}: duplicate key"));
            }
        }
        grams.push(table);
    }
    Ok(KneserNey::from_parts(order, discounts, grams))
}

#[cfg(test)]
mod tests;
