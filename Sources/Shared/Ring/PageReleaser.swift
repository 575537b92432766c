// Both sides of the ring touch each record once and then leave it for a whole lap. Keeping
// those pages mapped would make each process's resident set grow to the ring's size (30 MB for
// an hour at 100 ms) although the data lives in the page cache anyway; this drops the pages
// behind the cursor from the process's page tables as soon as they are finished.

/// Releases whole pages of the records area once every record on them is done.
public struct PageReleaser {
    private let area: UnsafeMutableRawPointer
    private let areaLength: Int
    private let recordSize: Int
    private let capacity: Int
    private var from = 0
    private var lastIndex: UInt64?

    /// `area` is the first record (page-aligned: the header is one page).
    public init(area: UnsafeMutableRawPointer, recordSize: Int, capacity: Int) {
        self.area = area
        self.recordSize = recordSize
        self.capacity = capacity
        self.areaLength = recordSize * capacity
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
        if done > from {
            Sys.dropMappedPages(area + from, length: done - from)
            from = done
        }
    }
}
