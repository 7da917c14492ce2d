import CFuzzSupport
import Glibc
import JGFuzzTargets

// The fuzzer: JG_FUZZ_TARGET picks the target, so that one build serves every target (`make fuzz`);
// JG_FUZZ_ORACLE turns the same binary into a differential oracle (stdin lines in, answers out).

let selected: FuzzTarget? = getenv("JG_FUZZ_TARGET").flatMap { FuzzTarget.named(String(cString: $0)) }

func fail(_ message: String) -> Never {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
    if let o = getenv("JG_FUZZ_ORACLE") {
        guard Oracle.serve(String(cString: o)) else { fail("JG_FUZZ_ORACLE: json, invariant, url or canonical") }
        exit(0)
    }
    guard selected != nil else { fail("JG_FUZZ_TARGET must be one of: " + FuzzTarget.all.map(\.name).joined(separator: " ")) }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected?.run(bytes)
    return 0
}

/// SwiftPM aliases `main` to `<module>_main`; whichever `main` the link keeps (this or libFuzzer's own),
/// the driver runs, and calls LLVMFuzzerInitialize first.
@_cdecl("jg_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { fuzzerTestOneInput($0, $1) }
}
