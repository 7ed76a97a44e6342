import Glibc

/// A failure of the test plumbing itself (a child that would not start, a scratch file that
/// could not be written), not of the code under test.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }

    static func system(_ what: String, _ e: Int32) -> TestSupportError {
        TestSupportError("\(what): \(String(cString: strerror(e)))")
    }
}

/// A fresh directory under /tmp (short, so a Unix socket path inside it fits in sun_path),
/// removed with everything in it by `remove()`.
public final class ScratchDirectory: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "syt") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw TestSupportError.system("mkdtemp", errno) }
        path = String(cString: made)
    }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `text` to `name` atomically (temp file + rename), so a concurrent reader (a proxy
    /// reloading on SIGHUP) never sees half a file. Returns the full path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let final = file(name)
        let tmp = final + ".tmp"
        guard let f = fopen(tmp, "w") else { throw TestSupportError.system("fopen \(tmp)", errno) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        guard n == bytes.count else { throw TestSupportError.system("fwrite \(tmp)", EIO) }
        guard rename(tmp, final) == 0 else { throw TestSupportError.system("rename \(tmp)", errno) }
        return final
    }

    public func read(_ name: String) -> String { readWholeFile(file(name)) }

    public func remove() {
        guard let d = opendir(path) else { return }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(d)
        for n in names { unlink(file(n)) }
        rmdir(path)
    }
}

/// The whole file as text ("" if it cannot be opened).
public func readWholeFile(_ path: String) -> String {
    guard let f = fopen(path, "r") else { return "" }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}
