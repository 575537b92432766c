import Synchronization

/// The memory that replies may hold as scratch (a columns reply's group of derived columns), for
/// all of them together. A reply that finds it spent is served without (a pass per column: the
/// same bytes, more passes over the ring), so a thousand slow clients asking for columns make
/// the server hold the budget, not a scratch each.
public final class ScratchBudget: Sendable {
    /// One reply takes at most this: 10 columns of an hour of 100 ms samples.
    public static let perReply = 3 << 20
    /// The process's replies share this: about ten grouped replies at once.
    public static let shared = ScratchBudget(limit: 32 << 20)

    public let limit: Int
    private let held = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    /// Bytes held now.
    public var inUse: Int { held.load(ordering: .relaxed) }

    /// Takes `bytes` from the budget; false (nothing taken) when they do not fit.
    func take(_ bytes: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            guard bytes <= limit - current else { return false }
            let (exchanged, original) = held.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back what `take` took.
    func give(_ bytes: Int) { held.subtract(bytes, ordering: .relaxed) }
}
