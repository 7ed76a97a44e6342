import AdminProtocol

/// A plain-text table with padded columns; numeric columns are right-aligned so digits line up.
struct TextTable {
    var headers: [String]
    var rightAligned: Set<Int>
    var rows: [[String]] = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render(indent: String = "  ") -> String {
        var widths = headers.map(\.count)
        for r in rows {
            for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) }
        }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (i, w) in widths.enumerated() {
                let c = i < cells.count ? cells[i] : ""
                let pad = String(repeating: " ", count: w - c.count)
                parts.append(rightAligned.contains(i) ? pad + c : c + pad)
            }
            var s = indent + parts.joined(separator: "  ")
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Cell formatting shared by the status and stats tables. Absent or null values show as "-".
enum Cell {
    static func text(_ v: JSONValue?) -> String {
        guard let v, !v.isNull else { return "-" }
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return fixed(d, 1)
        case .bool(let b): return b ? "yes" : "no"
        default: return v.encoded()
        }
    }

    /// `d` with exactly `decimals` decimals (no Foundation).
    static func fixed(_ d: Double, _ decimals: Int) -> String {
        guard d.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(d) * scale).rounded()
        guard scaled < 9e17 else { return String(d) }
        let n = Int64(scaled)
        let p = Int64(scale)
        let sign = d < 0 && n != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(n) }
        var frac = String(n % p)
        frac = String(repeating: "0", count: decimals - frac.count) + frac
        return sign + String(n / p) + "." + frac
    }

    /// Milliseconds: more decimals for the sub-10 ms latencies a proxy mostly sees.
    static func ms(_ v: JSONValue?) -> String {
        guard let d = v?.doubleValue, d.isFinite else { return "-" }
        return fixed(d, d < 10 ? 2 : d < 100 ? 1 : 0)
    }

    /// A percentage with one decimal; a non-zero share too small for that reads "<0.1", never "0.0".
    static func percent(_ part: Double, of whole: Double) -> String {
        guard whole > 0 else { return "-" }
        let p = part / whole * 100
        if p > 0 && p < 0.05 { return "<0.1" }
        return fixed(p, 1)
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds < 60 { return fixed(seconds, 1) + "s" }
        let s = Int(seconds)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 3600 { return "\(s / 60)m \(two(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h \(two(s / 60 % 60))m" }
        return "\(s / 86400)d \(two(s / 3600 % 24))h"
    }
}
