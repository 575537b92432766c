// libFuzzer's entry point for scripts/fuzz, over the entries in
// Tests/ServerTests/FuzzRegressionTests.swift: -D FUZZ_RING fuzzes the ring file, else HTTP.
// Not part of any SwiftPM target; scripts/fuzz compiles it with swiftc -sanitize=fuzzer,address.
import Glibc
import Server
import Shared

/// Made once per process, in $PERFRING_FUZZ_DIR (scripts/fuzz removes it afterwards).
nonisolated(unsafe) let fixture: FuzzFixture = {
    Log.minimum = .error  // a bad ring is logged as a warning on every input otherwise
    return FuzzFixture(under: Sys.environment("PERFRING_FUZZ_DIR") ?? "/tmp")
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    #if FUZZ_RING
    fuzzRing(input, fixture)
    #else
    fuzzHTTP(input, fixture)
    #endif
    return 0
}
