// One epoll set on one thread, with the three sources every server loop needs built in: an
// eventfd to be woken (stopped) from any thread, a timerfd tick for the application's periodic
// work and the timeout sweep, and optionally a signalfd for SIGTERM and friends. Application
// sources (sockets) are registered under a 64-bit key of the owner's choosing.
import CPerf
import Glibc
import Shared

/// Wakes a loop from any thread. A class so the eventfd stays open for as long as anyone can
/// still signal it: a stop handle that outlives the loop writes to its own eventfd, never to a
/// descriptor number since reused for something else.
final class LoopWakeup: Sendable {
    let fd: Int32
    init() throws(Errno) { fd = try Sys.eventfd() }
    deinit { Sys.close(fd) }
    func signal() { Sys.eventfdSignal(fd) }
}

/// Which built-in sources fired during one `wait`.
struct LoopSignals: OptionSet {
    let rawValue: UInt8
    /// The tick timer expired (once or more since the last wait).
    static let tick = LoopSignals(rawValue: 1)
    /// Someone asked the loop to stop: `LoopWakeup.signal()` or a watched signal.
    static let stop = LoopSignals(rawValue: 2)
}

final class EventLoop {
    private let epoll: Int32
    let wakeup: LoopWakeup
    private let timer: Int32
    private var signalFD: Int32 = -1
    private let events: UnsafeMutableBufferPointer<epoll_event>

    // Keys of the built-in sources; owners' keys must stay below these.
    private static let wakeKey = UInt64.max
    private static let timerKey = UInt64.max - 1
    private static let signalKey = UInt64.max - 2

    init(maxEventsPerWait: Int = 256) throws(Errno) {
        epoll = try Sys.epollCreate()
        do {
            wakeup = try LoopWakeup()
        } catch {
            Sys.close(epoll)
            throw error
        }
        do {
            timer = try Sys.timerfd()
        } catch {
            Sys.close(epoll)
            throw error
        }
        events = .allocate(capacity: maxEventsPerWait)
        do {
            try Sys.epollAdd(epoll, wakeup.fd, events: UInt32(EPOLLIN.rawValue), data: Self.wakeKey)
            try Sys.epollAdd(epoll, timer, events: UInt32(EPOLLIN.rawValue), data: Self.timerKey)
        } catch {
            events.deallocate()
            Sys.close(timer)
            Sys.close(epoll)
            throw error
        }
    }

    deinit {
        events.deallocate()
        if signalFD >= 0 { Sys.close(signalFD) }
        Sys.close(timer)
        Sys.close(epoll)
    }

    /// Starts the periodic tick, first firing one interval from now.
    func startTicking(every interval: UInt64) throws(Errno) {
        try Sys.timerfdArm(timer, firstAt: Sys.monotonicNanos() &+ interval, interval: interval)
    }

    /// Treats `signals` as stop requests. Must run on the loop's thread: it blocks them for that
    /// thread, and the process should block them everywhere else (e.g. before spawning threads).
    func stopOnSignals(_ signals: [Int32]) throws(Errno) {
        precondition(signalFD < 0, "perfring: signals are already watched")
        signalFD = try Sys.signalfd(signals)
        try Sys.epollAdd(epoll, signalFD, events: UInt32(EPOLLIN.rawValue), data: Self.signalKey)
    }

    func add(_ fd: Int32, events: UInt32, key: UInt64) throws(Errno) {
        try Sys.epollAdd(epoll, fd, events: events, data: key)
    }
    func modify(_ fd: Int32, events: UInt32, key: UInt64) throws(Errno) {
        try Sys.epollModify(epoll, fd, events: events, data: key)
    }
    func remove(_ fd: Int32) { Sys.epollRemove(epoll, fd) }

    /// Waits up to `timeoutMs` (-1: until something happens), drains the built-in sources that
    /// fired and calls `ready` for each owner's source, in the order epoll reported them.
    func wait(timeoutMs: Int32, _ ready: (_ key: UInt64, _ events: UInt32) -> Void) throws(Errno) -> LoopSignals {
        let n = try Sys.epollWait(epoll, events, timeoutMs: timeoutMs)
        var fired: LoopSignals = []
        for k in 0..<n {
            let ev = events[k]
            switch ev.data.u64 {
            case Self.wakeKey:
                if Sys.readCounter(wakeup.fd) != nil { fired.insert(.stop) }
            case Self.timerKey:
                if Sys.readCounter(timer) != nil { fired.insert(.tick) }
            case Self.signalKey:
                while Sys.readSignal(signalFD) != nil { fired.insert(.stop) }
            case let key:
                ready(key, ev.events)
            }
        }
        return fired
    }
}
