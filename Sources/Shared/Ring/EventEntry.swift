// One slot of the ring's event table as the collector writes it and readers parse it.

/// What the collector knows about one counter slot when it creates the ring.
public struct EventEntry: Sendable, Equatable {
    public var name: String
    public var type: UInt32
    public var config: UInt64
    public var status: EventStatus
    public var errno: Int32
    public var group: UInt32
    public var opened: UInt32
    public var flags: EventFlags
    public init(name: String, type: UInt32, config: UInt64, status: EventStatus, errno: Int32 = 0, group: UInt32 = 0, opened: UInt32 = 0, flags: EventFlags = []) {
        self.name = name; self.type = type; self.config = config; self.status = status
        self.errno = errno; self.group = group; self.opened = opened; self.flags = flags
    }
    /// The status readers show: a counting event never scheduled so far (its live flag, as
    /// RingReader.eventFlags reads it) is `notCounted`.
    public var effectiveStatus: EventStatus {
        status == .counting && flags.contains(.neverScheduled) ? .notCounted : status
    }
}
