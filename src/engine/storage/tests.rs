use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use librqbit::file_info::FileInfo;

use super::*;

const PIECE: u32 = 64 * 1024;
const BLOCK: usize = 16 * 1024;

/// Files in memory, counting the writes that reach them; writes fail once `fail` is set.
#[derive(Default)]
struct MemFiles {
    files: Vec<Mutex<Vec<u8>>>,
    writes: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
    /// When set, each write says it started and waits to be let through.
    gate: Mutex<Option<Arc<Gate>>>,
}

struct Gate {
    entered: std::sync::mpsc::SyncSender<()>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl MemFiles {
    fn new(sizes: &[u64]) -> Arc<Self> {
        Arc::new(Self {
            files: sizes
                .iter()
                .map(|s| Mutex::new(vec![0; *s as usize]))
                .collect(),
            ..Default::default()
        })
    }

    fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    fn content(&self) -> Vec<u8> {
        self.files
            .iter()
            .flat_map(|f| f.lock().unwrap().clone())
            .collect()
    }
}

struct Mem(Arc<MemFiles>);

impl TorrentStorage for Mem {
    fn init(&mut self, _: &ManagedTorrentShared, _: &TorrentMetadata) -> anyhow::Result<()> {
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let f = self.0.files[file_id].lock().unwrap();
        let at = offset as usize;
        buf.copy_from_slice(f.get(at..at + buf.len()).context("short read")?);
        Ok(())
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.0.fail.load(Ordering::SeqCst),
            "No space left on device"
        );
        let gate = self.0.gate.lock().unwrap().clone();
        if let Some(g) = gate {
            g.entered.send(()).unwrap();
            g.release.lock().unwrap().recv().unwrap();
        }
        self.0.writes.fetch_add(1, Ordering::SeqCst);
        let mut f = self.0.files[file_id].lock().unwrap();
        let at = offset as usize;
        f.get_mut(at..at + buf.len())
            .context("short write")?
            .copy_from_slice(buf);
        Ok(())
    }

    // One write call, as pwritev is.
    fn pwrite_all_vectored(
        &self,
        file_id: usize,
        offset: u64,
        bufs: [IoSlice<'_>; 2],
    ) -> anyhow::Result<usize> {
        let joined = [&bufs[0][..], &bufs[1][..]].concat();
        self.pwrite_all(file_id, offset, &joined)?;
        Ok(joined.len())
    }

    fn remove_file(&self, _: usize, _: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn remove_directory_if_empty(&self, _: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, _: usize, _: u64) -> anyhow::Result<()> {
        Ok(())
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(Mem(self.0.clone())))
    }
}

/// A torrent of files with these sizes, 64 KiB pieces, over memory; `budget` bytes of
/// piece buffers.
fn storage(sizes: &[u64], budget: u64) -> (WriteBack<Mem>, Arc<MemFiles>, Arc<Budget>) {
    let total: u64 = sizes.iter().sum();
    let lengths = Lengths::new(total, PIECE).unwrap();
    let mut offset = 0;
    let files = sizes
        .iter()
        .enumerate()
        .map(|(i, len)| {
            let first = (offset / PIECE as u64) as u32;
            let last = (offset + len).div_ceil(PIECE as u64) as u32;
            let f = FileInfo {
                relative_filename: format!("f{i}").into(),
                offset_in_torrent: offset,
                piece_range: first..last,
                attrs: Default::default(),
                len: *len,
            };
            offset += len;
            f
        })
        .collect();
    let mem = MemFiles::new(sizes);
    let budget = Budget::new(budget);
    let ctx = Context {
        hash: InfoHash::from_bytes([7; 20]),
        budget: budget.clone(),
        resume: None,
    };
    let s = WriteBack::new(Mem(mem.clone()), lengths, files, ctx);
    (s, mem, budget)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn piece(i: u32) -> ValidPieceIndex {
    Lengths::new(1 << 30, PIECE)
        .unwrap()
        .validate_piece_index(i)
        .unwrap()
}

/// Writes bytes `range` of the torrent the way librqbit does: a block at a time, split
/// at file boundaries (vectored, the block in two halves).
fn write_torrent_range(
    s: &WriteBack<Mem>,
    sizes: &[u64],
    src: &[u8],
    range: std::ops::Range<usize>,
) {
    let mut at = range.start;
    while at < range.end {
        let end = (at + BLOCK).min(range.end);
        let mut abs = at;
        let mut file_start = 0u64;
        for (i, len) in sizes.iter().enumerate() {
            let file_end = file_start + len;
            if (abs as u64) < file_end && abs < end {
                let n = (file_end as usize).min(end) - abs;
                let block = &src[abs..abs + n];
                let (a, b) = block.split_at(n / 2);
                s.pwrite_all_vectored(
                    i,
                    abs as u64 - file_start,
                    [IoSlice::new(a), IoSlice::new(b)],
                )
                .unwrap();
                abs += n;
            }
            file_start = file_end;
        }
        at = end;
    }
}

fn read_piece(s: &WriteBack<Mem>, sizes: &[u64], i: u32) -> Vec<u8> {
    let start = (i * PIECE) as u64;
    let total: u64 = sizes.iter().sum();
    let end = (start + PIECE as u64).min(total);
    let mut out = vec![0; (end - start) as usize];
    let mut file_start = 0u64;
    for (f, len) in sizes.iter().enumerate() {
        let file_end = file_start + len;
        let lo = start.max(file_start);
        let hi = end.min(file_end);
        if lo < hi {
            let dst = &mut out[(lo - start) as usize..(hi - start) as usize];
            s.pread_exact(f, lo - file_start, dst).unwrap();
        }
        file_start = file_end;
    }
    out
}

#[test]
fn a_piece_stays_in_memory_until_verified_then_is_written_once() {
    let sizes = [3 * PIECE as u64];
    let (s, mem, budget) = storage(&sizes, 1 << 20);
    let src = data(3 * PIECE as usize, 1);
    write_torrent_range(&s, &sizes, &src, 0..PIECE as usize);
    assert_eq!(
        mem.writes(),
        0,
        "no block reaches the disk before the piece verifies"
    );
    assert_eq!(budget.usage(), (PIECE as u64, PIECE as u64));
    // The hash check reads the piece back from memory.
    assert_eq!(read_piece(&s, &sizes, 0), src[..PIECE as usize]);
    s.on_piece_completed(piece(0)).unwrap();
    assert_eq!(mem.writes(), 1, "the verified piece is one write");
    assert_eq!(mem.content()[..PIECE as usize], src[..PIECE as usize]);
    assert_eq!(budget.usage().0, 0, "the buffer is given back");
    // Reads of a written piece go to the disk.
    assert_eq!(read_piece(&s, &sizes, 0), src[..PIECE as usize]);
}

#[test]
fn a_verified_piece_reads_right_while_it_is_being_written() {
    // librqbit marks a piece as had before it asks the storage to complete it: a
    // stream reading it in between must get its bytes, not the file's old ones.
    let sizes = [2 * PIECE as u64];
    let (s, mem, _) = storage(&sizes, 1 << 20);
    let src = data(2 * PIECE as usize, 5);
    write_torrent_range(&s, &sizes, &src, 0..PIECE as usize);
    let (entered_tx, entered) = std::sync::mpsc::sync_channel(1);
    let (release, release_rx) = std::sync::mpsc::channel();
    *mem.gate.lock().unwrap() = Some(Arc::new(Gate {
        entered: entered_tx,
        release: Mutex::new(release_rx),
    }));
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| s.on_piece_completed(piece(0)));
        entered.recv().unwrap();
        assert_eq!(mem.writes(), 0, "the write is held");
        assert_eq!(read_piece(&s, &sizes, 0), src[..PIECE as usize]);
        release.send(()).unwrap();
        writer.join().unwrap().unwrap();
    });
    *mem.gate.lock().unwrap() = None;
    assert_eq!(mem.content()[..PIECE as usize], src[..PIECE as usize]);
    assert_eq!(read_piece(&s, &sizes, 0), src[..PIECE as usize]);
}

#[test]
fn a_piece_across_files_reaches_every_file_intact() {
    // Odd sizes: pieces straddle files, the last piece is short.
    let sizes = [PIECE as u64 / 2 + 123, 7, PIECE as u64 + 5000];
    let total: u64 = sizes.iter().sum();
    let (s, mem, _) = storage(&sizes, 1 << 20);
    let src = data(total as usize, 9);
    write_torrent_range(&s, &sizes, &src, 0..total as usize);
    assert_eq!(mem.writes(), 0);
    let pieces = total.div_ceil(PIECE as u64) as u32;
    for i in 0..pieces {
        let start = (i * PIECE) as usize;
        let end = (start + PIECE as usize).min(total as usize);
        assert_eq!(
            read_piece(&s, &sizes, i),
            src[start..end],
            "piece {i} from memory"
        );
        s.on_piece_completed(piece(i)).unwrap();
    }
    assert_eq!(mem.content(), src);
}

#[test]
fn a_piece_that_failed_its_hash_is_rewritten_in_memory() {
    let sizes = [2 * PIECE as u64];
    let (s, mem, _) = storage(&sizes, 1 << 20);
    let bad = data(PIECE as usize, 77);
    let good = data(2 * PIECE as usize, 3);
    write_torrent_range(&s, &sizes, &bad, 0..PIECE as usize);
    // librqbit finds the hash wrong and downloads every block again.
    assert_eq!(read_piece(&s, &sizes, 0), bad);
    write_torrent_range(&s, &sizes, &good, 0..PIECE as usize);
    assert_eq!(read_piece(&s, &sizes, 0), good[..PIECE as usize]);
    assert_eq!(mem.writes(), 0, "the bad copy never reached the disk");
    s.on_piece_completed(piece(0)).unwrap();
    assert_eq!(mem.content()[..PIECE as usize], good[..PIECE as usize]);
}

#[test]
fn past_the_budget_pieces_are_written_through_and_memory_stays_bounded() {
    let sizes = [8 * PIECE as u64];
    let (s, mem, budget) = storage(&sizes, 2 * PIECE as u64);
    let src = data(8 * PIECE as usize, 5);
    // Eight pieces in flight at once: the first block of each, then the rest.
    for i in 0..8 {
        let at = (i * PIECE) as usize;
        write_torrent_range(&s, &sizes, &src, at..at + BLOCK);
    }
    assert_eq!(budget.usage().0, 2 * PIECE as u64);
    assert_eq!(
        mem.writes(),
        6,
        "six pieces started past the budget go to disk"
    );
    for i in 0..8 {
        let at = (i * PIECE) as usize;
        write_torrent_range(&s, &sizes, &src, at + BLOCK..at + PIECE as usize);
    }
    for i in 0..8 {
        let at = (i * PIECE) as usize;
        assert_eq!(read_piece(&s, &sizes, i), src[at..at + PIECE as usize]);
        s.on_piece_completed(piece(i)).unwrap();
    }
    assert_eq!(mem.content(), src);
    assert_eq!(
        budget.usage(),
        (0, 2 * PIECE as u64),
        "never above the budget"
    );
    // Once memory is free again, new pieces are buffered.
    write_torrent_range(&s, &sizes, &src, 0..BLOCK);
    assert_eq!(budget.usage().0, PIECE as u64);
}

#[test]
fn a_failed_write_of_a_verified_piece_is_an_error_and_frees_the_buffer() {
    let sizes = [PIECE as u64];
    let (s, mem, budget) = storage(&sizes, 1 << 20);
    write_torrent_range(&s, &sizes, &data(PIECE as usize, 2), 0..PIECE as usize);
    mem.fail.store(true, Ordering::SeqCst);
    let err = s.on_piece_completed(piece(0)).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(msg.contains("piece 0"), "{msg}");
    assert_eq!(budget.usage().0, 0);
}

#[test]
fn unfinished_pieces_survive_take_and_the_budget_returns_when_dropped() {
    let sizes = [2 * PIECE as u64];
    let (s, mem, budget) = storage(&sizes, 1 << 20);
    let src = data(2 * PIECE as usize, 4);
    write_torrent_range(&s, &sizes, &src, 0..PIECE as usize / 2);
    let resumed = s.take().unwrap();
    drop(s);
    assert_eq!(
        budget.usage().0,
        PIECE as u64,
        "still held by the new storage"
    );
    // The rest of the piece arrives after the pause.
    let mut at = PIECE as usize / 2;
    while at < PIECE as usize {
        resumed
            .pwrite_all(0, at as u64, &src[at..at + BLOCK])
            .unwrap();
        at += BLOCK;
    }
    resumed.on_piece_completed(piece(0)).unwrap();
    assert_eq!(mem.content()[..PIECE as usize], src[..PIECE as usize]);
    write_torrent_range_boxed(&*resumed, &src);
    drop(resumed);
    assert_eq!(
        budget.usage().0,
        0,
        "dropping the storage frees unfinished pieces"
    );
}

fn write_torrent_range_boxed(s: &dyn TorrentStorage, src: &[u8]) {
    let at = PIECE as usize;
    s.pwrite_all(0, at as u64, &src[at..at + BLOCK]).unwrap();
}
