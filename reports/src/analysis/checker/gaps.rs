//! The longest gap between arrivals, measured over a nearly sorted stream in bounded memory.

/// Maximum gap between consecutive values of a nearly sorted stream, in bounded memory.
///
/// The sink writes rows in the order its writer received them, while `recv_ns` is taken when
/// each request arrives, so rows are out of order by at most the requests in flight. The
/// tracker holds `window` times, sorts them, and releases the older half; a time older than
/// one already released cannot be placed (the max is then an upper bound, and says so).
pub(super) struct GapTracker {
    buf: Vec<i64>,
    window: usize,
    last_released: Option<i64>,
    max_gap_ns: Option<i64>,
    exact: bool,
    /// The buffer is in order so far: sorting it can be skipped (the common case).
    sorted: bool,
}

impl GapTracker {
    pub(super) fn new(window: usize) -> Self {
        GapTracker {
            buf: Vec::new(),
            window: window.max(2),
            last_released: None,
            max_gap_ns: None,
            exact: true,
            sorted: true,
        }
    }

    #[inline]
    pub(super) fn push(&mut self, t: i64) {
        if self.last_released.is_some_and(|last| t < last) {
            self.exact = false;
            return;
        }
        if self.buf.last().is_some_and(|&last| t < last) {
            self.sorted = false;
        }
        self.buf.push(t);
        if self.buf.len() >= self.window {
            if !self.sorted {
                // Mostly sorted input: the stable sort finds the runs and merges them in O(n).
                self.buf.sort();
                self.sorted = true;
            }
            let release = self.window / 2;
            for i in 0..release {
                self.release(self.buf[i]);
            }
            self.buf.drain(..release);
        }
    }

    #[inline]
    pub(super) fn release(&mut self, t: i64) {
        if let Some(last) = self.last_released {
            let gap = t - last;
            if self.max_gap_ns.is_none_or(|g| gap > g) {
                self.max_gap_ns = Some(gap);
            }
        }
        self.last_released = Some(t);
    }

    pub(super) fn finish(mut self) -> (Option<i64>, bool) {
        self.buf.sort();
        let buf = std::mem::take(&mut self.buf);
        for t in buf {
            self.release(t);
        }
        (self.max_gap_ns, self.exact)
    }
}
