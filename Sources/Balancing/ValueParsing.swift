/// Parsers for the scalar values in the config (durations, sizes, counts).
/// They return a reason on failure so the config error can say exactly
/// what is wrong with the token.
enum ValueParsing {
    /// Digits only; saturates at UInt64.max instead of overflowing, so range
    /// checks on absurd inputs fail normally. Nil if empty or not all digits.
    static func unsigned(_ s: some StringProtocol) -> UInt64? {
        guard !s.isEmpty else { return nil }
        var v: UInt64 = 0
        for c in s.utf8 {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            if o1 || o2 { v = .max } else { v = a }
        }
        return v
    }

    /// Upper bound for any timeout: 24 hours. Longer is almost surely a
    /// typo, and it keeps deadline arithmetic far from overflow.
    static let maxDurationMs: Int64 = 24 * 60 * 60 * 1000

    /// "500ms", "2s", "1m", "12h" -> milliseconds. Must be positive; a bare number
    /// is rejected because "30" could mean seconds or milliseconds. `maxMS` is
    /// for the few values that may be longer than a day (a cookie's max-age).
    static func duration(_ s: String, maxMS: Int64 = maxDurationMs) -> Result<Int64, Reason> {
        if s.hasPrefix("-") { return .failure("must be positive, got \(shown(s))") }
        let digits = s.prefix { $0 >= "0" && $0 <= "9" }
        let unit = s.dropFirst(digits.count)
        guard let n = unsigned(digits) else {
            return .failure("invalid duration \(quoted(s)) (expected a number with a unit: ms, s, m or h, e.g. 500ms, 2s, 1m, 12h)")
        }
        if n == 0 { return .failure("must be positive, got \(shown(s))") }
        let scale: UInt64
        switch unit {
        case "ms": scale = 1
        case "s": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "": return .failure("duration needs a unit (ms, s, m or h), got \(quoted(s))")
        default: return .failure("unknown duration unit \(quoted(unit)) in \(quoted(s)) (use ms, s, m or h)")
        }
        let (ms, overflow) = n.multipliedReportingOverflow(by: scale)
        guard !overflow, ms <= UInt64(maxMS) else {
            return .failure("duration \(quoted(s)) is too long (max \(formatted(ms: maxMS)))")
        }
        return .success(Int64(ms))
    }

    /// "32768", "32k", "100m", "1g" (1024-based, suffix in either case) -> bytes.
    static func size(_ s: String) -> Result<UInt64, Reason> {
        let digits = s.prefix { $0 >= "0" && $0 <= "9" }
        let suffix = s.dropFirst(digits.count)
        guard let n = unsigned(digits) else {
            return .failure("invalid size \(quoted(s)) (expected a number with optional k, m or g suffix, e.g. 32k)")
        }
        let scale: UInt64
        switch suffix {
        case "": scale = 1
        case "k", "K": scale = 1 << 10
        case "m", "M": scale = 1 << 20
        case "g", "G": scale = 1 << 30
        default: return .failure("unknown size suffix \(quoted(suffix)) in \(quoted(s)) (use k, m or g)")
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: scale)
        guard !overflow else { return .failure("size \(quoted(s)) is too large") }
        return .success(bytes)
    }

    /// Milliseconds in the largest unit that divides them exactly: 120000 -> "2m", 1500 -> "1500ms".
    static func formatted(ms: Int64) -> String {
        if ms != 0 && ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms != 0 && ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    /// How to show a token in "must be X, got Y": numbers bare ("got 0"), anything else quoted.
    static func shown(_ s: String) -> String {
        !s.isEmpty && s.utf8.count <= 20 && s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) ? s : quoted(s)
    }
}

/// Why a value was rejected: the text that follows "directive:" in the error.
/// String-literal convertible so the parsers read naturally.
struct Reason: Error, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
    var description: String

    init(stringLiteral value: String) {
        description = value
    }
}
