// One thread beside the event loop that runs uploads' analyses and saves runs as recordings
// (POST /api/recordings), so parsing and detecting phases
// in a 16 MB recording never delays /api/latest or a stream. Its queue has a fixed depth: a job
// beyond it is refused at once (the caller answers 503 with Retry-After) rather than queued
// without bound. The thread runs at a lower priority than the loop, one job at a time, and is
// started on the first job (so it inherits the loop thread's blocked stop signals).
//
// Results come back through a mutex-guarded list the loop drains on its tick (`drain`), so the
// loop needs no second wakeup source: a reply waits at most one tick after its job ends.
import Shared
import Synchronization

final class AnalysisWorker: Sendable {
    typealias Job = @Sendable () -> HTTPResponse

    private struct State {
        var queue: [(DeferredReply, Job)] = []
        var done: [(DeferredReply, HTTPResponse)] = []
        /// Jobs queued or running: what the depth limit counts.
        var inFlight = 0
        var started = false
    }

    /// Jobs queued or running at most.
    let depth: Int
    private let state = Mutex(State())
    private let wake = Sys.Semaphore()

    init(depth: Int) { self.depth = max(depth, 1) }

    /// Queues `job`; false when `depth` jobs are already queued or running (or the thread
    /// cannot start).
    func submit(_ reply: DeferredReply, _ job: @escaping Job) -> Bool {
        let (accepted, start) = state.withLock { s -> (Bool, Bool) in
            guard s.inFlight < depth else { return (false, false) }
            s.inFlight += 1
            s.queue.append((reply, job))
            let start = !s.started
            s.started = true
            return (true, start)
        }
        guard accepted else { return false }
        if start {
            do { try Sys.spawnThread { [self] in run() } } catch {
                Log.error("cannot start the analysis thread: \(error)")
                state.withLock { s in
                    s.started = false
                    s.queue.removeAll()
                    s.inFlight = 0
                }
                return false
            }
        }
        wake.post()
        return true
    }

    /// Queues `job` and defers the request's reply to it; 503 with Retry-After when the queue
    /// is full.
    func submit(_ job: @escaping Job) -> HTTPHandlerResult {
        let reply = DeferredReply()
        guard submit(reply, job) else {
            var r = HTTPResponse.error(.serviceUnavailable, "\(depth) analyses or saves are queued or running; try again shortly")
            r.headers.append(HTTPField("Retry-After", "1"))
            return .response(r)
        }
        return .deferred(reply)
    }

    /// The replies whose jobs have finished since the last call.
    func drain() -> [(DeferredReply, HTTPResponse)] {
        state.withLock { s in
            defer { s.done.removeAll() }
            return s.done
        }
    }

    private func run() {
        Sys.lowerThreadPriority(by: 10)
        while true {
            wake.wait()
            guard let (reply, job) = state.withLock({ s in s.queue.isEmpty ? nil : s.queue.removeFirst() }) else { continue }
            let response = job()
            state.withLock { s in
                s.done.append((reply, response))
                s.inFlight -= 1
            }
        }
    }
}
