// Both sides of the ring touch each record once and then leave it for a whole lap. Keeping
// those pages mapped would make each process's resident set grow to the ring's size (30 MB for
// an hour at 100 ms) although the data lives in the page cache anyway; this drops the pages
// behind the cursor from the process's page tables once they are finished, a batch at a time:
// each drop is a madvise whose TLB flush may interrupt another CPU, so a writer that finishes a
// page every few ticks releases them in larger runs (the bound on its mapped ring pages is the
// batch plus a page).

/// Releases whole pages of the records area once every record on them is done.
public struct PageReleaser {
    private let area: UnsafeMutableRawPointer
    private let areaLength: Int
    private let recordSize: Int
    private let capacity: Int
    /// Finished bytes are released once at least this many have gathered (whole pages).
    private let batchBytes: Int
    private var from = 0
    private var lastIndex: UInt64?

    /// `area` is the first record (page-aligned: the header is one page); finished pages are
    /// released `batchPages` at a time (and at each wrap of the ring).
    public init(area: UnsafeMutableRawPointer, recordSize: Int, capacity: Int, batchPages: Int = 1) {
        self.area = area
        self.recordSize = recordSize
        self.capacity = capacity
        self.areaLength = recordSize * capacity
        self.batchBytes = max(1, batchPages) * Sys.pageSize
    }

    /// Records up to and including ring index `index` are finished with.
    public mutating func finished(through index: UInt64) {
        let page = Sys.pageSize
        let slot = Int(index % UInt64(capacity))
        let wrapped: Bool
        if let last = lastIndex {
            wrapped = index >= last + UInt64(capacity) || slot < Int(last % UInt64(capacity))
        } else {
            wrapped = true  // first call: whatever was touched before (a catch-up read) is done
        }
        if wrapped {
            // The tail of the area is done too.
            let end = (areaLength + page - 1) / page * page
            if end > from { Sys.dropMappedPages(area + from, length: end - from) }
            from = 0
        }
        lastIndex = index
        let done = (slot + 1) * recordSize / page * page
        if done - from >= batchBytes {
            Sys.dropMappedPages(area + from, length: done - from)
            from = done
        }
    }
}
