// The descriptors a paced writer waits on: a signalfd for the signals it handles itself, a
// timerfd for its deadlines, and one epoll over both. The collector's tick loop and the replay
// share it.
import CPerf
import Glibc
import Shared

struct TickSources {
    let signals: Int32
    let timer: Int32
    let epoll: Int32
    /// epoll data of each source.
    static let signalKey: UInt64 = 1
    static let timerKey: UInt64 = 2

    /// Blocks `handled` (they arrive through the signalfd) and creates the three descriptors.
    init(handling handled: [Int32]) throws(Errno) {
        let sfd = try Sys.signalfd(handled)
        var tfd: Int32 = -1, ep: Int32 = -1
        do {
            tfd = try Sys.timerfd()
            ep = try Sys.epollCreate()
            try Sys.epollAdd(ep, sfd, events: EPOLLIN.rawValue, data: Self.signalKey)
            try Sys.epollAdd(ep, tfd, events: EPOLLIN.rawValue, data: Self.timerKey)
        } catch {
            for fd in [ep, tfd, sfd] where fd >= 0 { Sys.close(fd) }
            throw error
        }
        signals = sfd
        timer = tfd
        epoll = ep
    }

    func close() {
        Sys.close(epoll)
        Sys.close(timer)
        Sys.close(signals)
    }
}
