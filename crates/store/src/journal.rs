//! The spill journal: append-only JSON-lines files on local disk for records the store could
//! not take (queue full, store down), replayed when it can.
//!
//! Records are appended to one open segment (`journal-<ms>-<pid>-<n>.open`), one `write` per
//! call so concurrent appends never interleave within a line. A segment is sealed (renamed to
//! `.jsonl`) before it is replayed, when it grows past a size limit, and on shutdown; a
//! leftover `.open` segment (a crash) is sealed when the journal is opened again. Replay reads
//! a sealed segment from where the last replay of it stopped and deletes it once every line
//! is in the store. A torn last line (a crash mid-write) is skipped with a warning. One
//! journal directory belongs to one process at a time.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::LogRecord;

/// A segment is sealed once it holds this many bytes, so replays progress in pieces.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// The journal of one process.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    open: Mutex<Option<Segment>>,
    /// Bytes in the journal that are not yet replayed (sealed and open segments).
    bytes: AtomicU64,
    /// Records appended since the journal was opened.
    appended: AtomicU64,
    next: AtomicU64,
}

#[derive(Debug)]
struct Segment {
    file: File,
    path: PathBuf,
    bytes: u64,
}

impl Journal {
    /// Opens (creating) the journal directory and seals segments left open by an earlier run.
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let mut bytes = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if is_segment(&path, "open") {
                std::fs::rename(&path, path.with_extension("jsonl"))?;
            }
            if is_segment(&path, "open") || is_segment(&path, "jsonl") {
                bytes += std::fs::metadata(path.with_extension("jsonl")).map_or(0, |m| m.len());
            }
        }
        Ok(Journal {
            dir: dir.to_owned(),
            open: Mutex::new(None),
            bytes: AtomicU64::new(bytes),
            appended: AtomicU64::new(0),
            next: AtomicU64::new(0),
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` as JSON lines to the open segment.
    pub fn append(&self, records: &[LogRecord]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let mut open = self.open.lock().map_err(|_| poisoned())?;
        if open.as_ref().is_some_and(|s| s.bytes >= SEGMENT_BYTES) {
            seal(&mut open)?;
        }
        let segment = match &mut *open {
            Some(segment) => segment,
            None => open.insert(self.new_segment()?),
        };
        segment.file.write_all(&buf)?;
        let n = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        segment.bytes += n;
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.appended.fetch_add(
            u64::try_from(records.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Seals the open segment, if any, so it can be replayed.
    pub fn seal(&self) -> std::io::Result<()> {
        let mut open = self.open.lock().map_err(|_| poisoned())?;
        seal(&mut open)
    }

    /// Flushes the open segment to disk.
    pub fn sync(&self) -> std::io::Result<()> {
        let open = self.open.lock().map_err(|_| poisoned())?;
        match &*open {
            Some(segment) => segment.file.sync_all(),
            None => Ok(()),
        }
    }

    /// Bytes waiting in the journal.
    pub fn pending_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Records appended since the journal was opened.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Sealed segments, oldest first.
    pub fn sealed(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_segment(p, "jsonl"))
            .collect();
        out.sort_by_key(|p| segment_order(p));
        Ok(out)
    }

    /// Reads up to `max` records of `segment` starting at byte `offset`. Returns them and the
    /// offset after the last line read; the segment is finished when that is its length.
    pub fn read(
        &self,
        segment: &Path,
        offset: u64,
        max: usize,
    ) -> std::io::Result<(Vec<LogRecord>, u64)> {
        let mut file = File::open(segment)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(file);
        let mut records = Vec::new();
        let mut at = offset;
        let mut line = String::new();
        while records.len() < max {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            at += u64::try_from(n).unwrap_or(u64::MAX);
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<LogRecord>(text) {
                Ok(r) => records.push(r),
                Err(e) => tracing::warn!(
                    segment = %segment.display(),
                    error = %e,
                    "skipping an unreadable journal line (torn by a crash?)"
                ),
            }
        }
        Ok((records, at))
    }

    /// Deletes a fully replayed segment.
    pub fn remove(&self, segment: &Path) -> std::io::Result<()> {
        let len = std::fs::metadata(segment).map_or(0, |m| m.len());
        std::fs::remove_file(segment)?;
        // Saturating: the counter is a gauge, never below zero.
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(len))
            });
        Ok(())
    }

    /// Appends records the store refused as data (they would fail again on every replay) to
    /// `rejected.jsonl`, which is never replayed, with the reason.
    pub fn reject(&self, record: &LogRecord, reason: &str) -> std::io::Result<()> {
        let line = serde_json::json!({"reason": reason, "record": record});
        let mut buf = serde_json::to_vec(&line)?;
        buf.push(b'\n');
        let _guard = self.open.lock().map_err(|_| poisoned())?;
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("rejected.jsonl"))?
            .write_all(&buf)
    }

    fn new_segment(&self) -> std::io::Result<Segment> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "journal-{:013}-{}-{n:06}.open",
            crate::unix_ms(),
            std::process::id()
        );
        let path = self.dir.join(name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Segment {
            file,
            path,
            bytes: 0,
        })
    }
}

fn seal(open: &mut Option<Segment>) -> std::io::Result<()> {
    if let Some(segment) = open.take() {
        segment.file.sync_all()?;
        std::fs::rename(&segment.path, segment.path.with_extension("jsonl"))?;
    }
    Ok(())
}

fn is_segment(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("journal-"))
}

/// Sorts segments by creation time, then by their sequence number.
fn segment_order(path: &Path) -> (String, u64) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let mut parts = stem.split('-');
    let ms = parts.nth(1).unwrap_or_default().to_owned();
    let seq = parts
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    (ms, seq)
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("the journal lock was poisoned")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rec(id: &str) -> LogRecord {
        LogRecord {
            id: id.into(),
            status: 200,
            ..LogRecord::default()
        }
    }

    #[test]
    fn appended_records_replay_after_sealing_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.append(&[rec("a"), rec("b")]).unwrap();
        journal.append(&[rec("c")]).unwrap();
        assert!(
            journal.sealed().unwrap().is_empty(),
            "the open segment is not replayable"
        );
        assert_eq!(journal.appended(), 3);
        assert!(journal.pending_bytes() > 0);
        // A crash leaves the segment open; the next start seals it.
        drop(journal);
        let journal = Journal::open(dir.path()).unwrap();
        let sealed = journal.sealed().unwrap();
        assert_eq!(sealed.len(), 1);
        let (first, at) = journal.read(&sealed[0], 0, 2).unwrap();
        assert_eq!(
            first.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let (rest, end) = journal.read(&sealed[0], at, 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(end, std::fs::metadata(&sealed[0]).unwrap().len());
        journal.remove(&sealed[0]).unwrap();
        assert_eq!(journal.pending_bytes(), 0);
        assert!(journal.sealed().unwrap().is_empty());
    }

    #[test]
    fn a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.append(&[rec("a")]).unwrap();
        journal.seal().unwrap();
        let path = journal.sealed().unwrap().remove(0);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\":\"tor").unwrap();
        let (records, _) = journal.read(&path, 0, 10).unwrap();
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn segments_sort_by_time_then_sequence() {
        let a = Path::new("journal-0000000000002-7-000010.jsonl");
        let b = Path::new("journal-0000000000002-7-000009.jsonl");
        let c = Path::new("journal-0000000000001-9-000011.jsonl");
        let mut v = [a, b, c];
        v.sort_by_key(|p| segment_order(p));
        assert_eq!(v, [c, b, a]);
    }
}
