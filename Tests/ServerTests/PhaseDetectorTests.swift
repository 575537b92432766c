// The online change-point detector on synthetic series with known change points: steps are
// found at the right sample soon after they happen, noise and outliers make no boundaries,
// transients are revised away, confirmed boundaries never move, a fast stationary alternation
// is one level whose start and end are found, and missing features are skipped rather than
// read as zero.
import Glibc
import Testing
@testable import Server

/// A standard normal draw (Box-Muller) from the seeded generator in HTTPParserTests.
func gaussian(_ g: inout SeededRNG) -> Double {
    let u = Double.random(in: Double.ulpOfOne..<1, using: &g), v = Double.random(in: 0..<1, using: &g)
    return (-2 * Glibc.log(u)).squareRoot() * Glibc.cos(2 * .pi * v)
}

/// Runs a detector over `series` (one vector per sample) and returns its events with the
/// sample index at which each was reported.
func runDetector(_ series: [[Double]], resolution: [Double], minSamples: Int = 10) -> [(at: Int, event: PhaseDetector.Event)] {
    var d = PhaseDetector(resolution: resolution, tuning: .init(minSamples: minSamples))
    var out: [(Int, PhaseDetector.Event)] = []
    for (i, y) in series.enumerated() { for e in d.push(y) { out.append((i, e)) } }
    return out
}

/// Levels per segment, with Gaussian noise of `noise` (in feature units).
func stepSeries(_ segments: [(length: Int, level: [Double])], noise: Double, seed: UInt64 = 7) -> [[Double]] {
    var g = SeededRNG(seed: seed)
    return segments.flatMap { s in (0..<s.length).map { _ in s.level.map { $0 + noise * gaussian(&g) } } }
}

/// Boundaries left standing after all revisions: opened minus cancelled.
func standingBoundaries(_ events: [(at: Int, event: PhaseDetector.Event)]) -> [Int] {
    var b: [Int] = []
    for (_, e) in events {
        switch e {
        case .opened(let s): b.append(s)
        case .cancelled(let s): b.removeAll { $0 == s }
        case .confirmed: break
        }
    }
    return b
}

@Suite struct PhaseDetectorTests {
    @Test(arguments: [0.02, 0.1, 0.3, 1.0])
    func stationaryNoiseMakesNoBoundary(noise: Double) {
        let series = stepSeries([(5000, [1, 2])], noise: noise)
        #expect(standingBoundaries(runDetector(series, resolution: [0.5, 0.5])).isEmpty)
    }

    @Test(arguments: [1, 2])
    func outliersOfOneOrTwoSamplesMakeNoBoundary(width: Int) {
        var series = stepSeries([(2000, [1])], noise: 0.05)
        for start in stride(from: 50, to: 1950, by: 60) { for i in start..<(start + width) { series[i][0] += 20 } }
        #expect(!runDetector(series, resolution: [0.5]).contains { if case .opened = $0.event { true } else { false } })
    }

    @Test(arguments: [(shift: 1.0, noise: 0.05), (shift: 3.0, noise: 0.3), (shift: -2.0, noise: 0.1), (shift: 0.6, noise: 0.02)])
    func stepIsFoundAtItsSampleWithinFiveSamples(shift: Double, noise: Double) {
        let series = stepSeries([(300, [1, 0]), (300, [1 + shift, 0])], noise: noise)
        let events = runDetector(series, resolution: [0.5, 0.5])
        #expect(standingBoundaries(events) == [300] || standingBoundaries(events) == [301] || standingBoundaries(events) == [299])
        let opened = events.first { if case .opened = $0.event { true } else { false } }!
        #expect(opened.at - 300 <= 5)
        #expect(events.contains { $0.event == .confirmed(standingBoundaries(events)[0]) })
    }

    @Test func shiftBelowTheResolutionIsNoPhase() {
        let series = stepSeries([(300, [1]), (300, [1.2])], noise: 0.02)
        #expect(standingBoundaries(runDetector(series, resolution: [0.5])).isEmpty)
    }

    @Test(arguments: [3, 5, 8])
    func transientShorterThanTheMinimumPhaseIsCancelled(length: Int) {
        let series = stepSeries([(200, [1]), (length, [4]), (200, [1])], noise: 0.05)
        let events = runDetector(series, resolution: [0.5], minSamples: 10)
        #expect(standingBoundaries(events).isEmpty)
        #expect(events.contains { if case .cancelled = $0.event { true } else { false } }, "opened, then revised away")
    }

    @Test func confirmedBoundariesNeverMove() {
        let series = stepSeries([(100, [0]), (40, [3]), (6, [6]), (100, [3]), (100, [-2])], noise: 0.05)
        let events = runDetector(series, resolution: [0.5])
        var confirmed = Set<Int>()
        for (_, e) in events {
            switch e {
            case .confirmed(let s): confirmed.insert(s)
            case .cancelled(let s): #expect(!confirmed.contains(s))
            case .opened: break
            }
        }
        #expect(confirmed.count == standingBoundaries(events).count + 1, "the first phase and every boundary")
    }

    @Test func aRampIntoANewLevelIsOneBoundary() {
        // 1 -> (4 samples of a ramp) -> 5: one boundary, where the ramp begins or ends.
        let series = stepSeries([(200, [1]), (4, [1.6]), (200, [5])], noise: 0.05)
        let b = standingBoundaries(runDetector(series, resolution: [0.5]))
        #expect(b.count == 1)
        #expect(b[0] >= 199 && b[0] <= 205)
    }

    /// Two features (busy, I/O) that alternate every `half` samples between two levels.
    static func alternation(_ n: Int, half: Int, noise: Double, g: inout SeededRNG) -> [[Double]] {
        (0..<n).map { i in (i / half) % 2 == 0 ? [2.4 + noise * gaussian(&g), 0] : [0.3 + noise * gaussian(&g), 3 + noise * gaussian(&g)] }
    }

    /// 300 ms busy, 300 ms I/O at 100 ms samples: a period that fits in one block.
    @Test(arguments: [0.02, 0.05, 0.2])
    func aFastStationaryAlternationIsOneLevelWithItsStartAndEndFound(noise: Double) {
        var g = SeededRNG(seed: 11)
        let before = stepSeries([(200, [2.4, 0])], noise: noise), after = stepSeries([(200, [0.3, 0])], noise: noise, seed: 12)
        let series = before + Self.alternation(600, half: 3, noise: noise, g: &g) + after
        let b = standingBoundaries(runDetector(series, resolution: [0.7, 0.7]))
        #expect(b.count == 2, "\(b)")
        #expect(b.count == 2 && abs(b[0] - 200) <= 5 && abs(b[1] - 800) <= 5, "\(b)")
    }

    @Test func aDutyCycleHalvingIsAPhase() {
        // CPUs busy 1.0 then 0.5 (log(1 + x/0.1): 2.40 then 1.79), noisy as on a shared machine.
        let series = stepSeries([(300, [2.40]), (300, [1.79])], noise: 0.04)
        let b = standingBoundaries(runDetector(series, resolution: [0.7]))
        #expect(b.count == 1 && abs(b[0] - 300) <= 5, "\(b)")
    }

    @Test func aShortPhaseBetweenLongOnesIsFound() {
        let series = stepSeries([(300, [1]), (15, [3]), (300, [1.5])], noise: 0.05)
        let b = standingBoundaries(runDetector(series, resolution: [0.5]))
        #expect(b.count == 2 && abs(b[0] - 300) <= 2 && abs(b[1] - 315) <= 2, "\(b)")
    }

    @Test func missingFeaturesAreSkippedNotZero() {
        // Feature 1 never has a value; feature 0 is missing for a stretch: neither is a change.
        var series = stepSeries([(300, [2, .nan]), (300, [4, .nan])], noise: 0.05)
        for i in 100..<150 { series[i][0] = .nan }
        #expect(standingBoundaries(runDetector(series, resolution: [0.5, 0.5])) == [300])
    }
}
