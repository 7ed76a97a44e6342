// A strict parser and validator of the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), written for the metrics tests:
// no third-party code. It rejects what the format forbids rather than guessing around it:
//
// - lines end with "\n" (the text too); no "\r"; empty lines and plain `#` comments are ignored
// - `# HELP name text` (escapes `\\` and `\n` only) and `# TYPE name counter|gauge|histogram|summary|untyped`,
//   each at most once per family, both before the family's first sample
// - samples `name{label="value",...} value [timestamp]`: metric names [a-zA-Z_:][a-zA-Z0-9_:]*,
//   label names [a-zA-Z_][a-zA-Z0-9_]* (not `__name__`, no name twice), label values with the
//   escapes `\\`, `\"` and `\n` only, values as Go's ParseFloat reads them (incl. +Inf, -Inf, NaN),
//   an optional int64 timestamp (milliseconds)
// - no series twice (same name and label set)
// - every sample belongs to a family declared by TYPE (`requireTypeForEverySample`), resolved by
//   its name or, for histograms and summaries, by the name without _bucket/_sum/_count
// - all lines of a family form one group (`requireContiguousFamilies`): the format says "All
//   lines for a given metric must be provided as one single group"
// - histograms: only _bucket/_sum/_count samples; every series (the labels without `le`) has
//   buckets with `le` in strictly increasing order, non-decreasing cumulative counts, a last
//   bucket le="+Inf" equal to its _count, and a _sum
// - summaries: `quantile` labels in 0...1 on the plain samples, plus _sum and _count
// - counters are not negative

/// The metric types of the 0.0.4 format.
enum PromMetricType: String, Sendable, CaseIterable {
    case counter, gauge, histogram, summary, untyped
}

/// One label pair, in the order it appeared.
struct PromLabel: Equatable, Hashable, Sendable {
    let name: String
    let value: String
}

/// One sample line.
struct PromSample: Equatable, Sendable, CustomStringConvertible {
    /// The sample's own name (e.g. `x_bucket`).
    let name: String
    /// The family it belongs to (e.g. `x`).
    let family: String
    let labels: [PromLabel]
    let value: Double
    let timestamp: Int64?
    /// 1-based line number.
    let line: Int

    func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }

    /// The labels as a dictionary (label names are unique within a sample).
    var labelSet: [String: String] {
        var d: [String: String] = [:]
        for l in labels { d[l.name] = l.value }
        return d
    }

    /// True when every pair of `subset` is among the labels.
    func matches(_ subset: [String: String]) -> Bool {
        subset.allSatisfy { label($0.key) == $0.value }
    }

    var description: String {
        let ls = labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",")
        return "\(name){\(ls)} \(value)" + (timestamp.map { " \($0)" } ?? "")
    }

    static func == (a: PromSample, b: PromSample) -> Bool {
        a.name == b.name && a.family == b.family && a.labels == b.labels && a.timestamp == b.timestamp
            && (a.value == b.value || (a.value.isNaN && b.value.isNaN)) && a.line == b.line
    }
}

/// A metric family: its metadata and samples.
struct PromFamily: Sendable {
    let name: String
    var type: PromMetricType
    /// True when a TYPE line declared it (else it is an implicit `untyped` family).
    var declared: Bool
    var help: String?
    var samples: [PromSample] = []
}

/// A parsed exposition.
struct PromExposition: Sendable {
    /// Families in the order they first appeared.
    private(set) var familyOrder: [String] = []
    private(set) var families: [String: PromFamily] = [:]
    /// Every sample in text order.
    private(set) var samples: [PromSample] = []

    var familyNames: Set<String> { Set(familyOrder) }

    /// Every name a sample used (`x_bucket`, `x_sum`, ... for histograms).
    var sampleNames: Set<String> { Set(samples.map(\.name)) }

    func family(_ name: String) -> PromFamily? { families[name] }

    /// Samples named `name` whose labels include `labels`.
    func samples(_ name: String, _ labels: [String: String] = [:]) -> [PromSample] {
        samples.filter { $0.name == name && $0.matches(labels) }
    }

    /// The value of the one sample named `name` with exactly the label set `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labelSet == labels }?.value
    }

    /// Sum of the samples named `name` whose labels include `labels`.
    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples(name, labels).reduce(0) { $0 + $1.value }
    }

    fileprivate mutating func addFamily(_ f: PromFamily) {
        familyOrder.append(f.name)
        families[f.name] = f
    }

    fileprivate mutating func update(_ name: String, _ body: (inout PromFamily) -> Void) {
        body(&families[name]!)
    }

    fileprivate mutating func append(_ s: PromSample) {
        samples.append(s)
        families[s.family]!.samples.append(s)
    }
}

/// Why a text is not a valid exposition; `line` is 1-based (0: the text as a whole).
struct PromParseError: Error, Equatable, CustomStringConvertible {
    let line: Int
    let message: String
    var description: String { line > 0 ? "line \(line): \(message)" : message }
}

struct PrometheusTextParser {
    struct Options: Sendable {
        /// A sample whose family no TYPE line declared is an error (else it is `untyped`).
        var requireTypeForEverySample = true
        /// Lines of a family after another family's lines is an error.
        var requireContiguousFamilies = true

        static let strict = Options()
        /// Strict except the grouping rule.
        static let ungrouped = Options(requireTypeForEverySample: true, requireContiguousFamilies: false)
    }

    static func parse(_ text: String, options: Options = .strict) throws -> PromExposition {
        var p = PrometheusTextParser(options: options)
        return try p.run(text)
    }

    private let options: Options
    private var out = PromExposition()
    private var lineNo = 0
    /// The family of the previous metadata or sample line.
    private var currentFamily: String?
    /// Families whose group ended (another family's line followed).
    private var closedFamilies = Set<String>()
    /// name + sorted labels of every series seen.
    private var seriesSeen = Set<String>()

    private init(options: Options) { self.options = options }

    private func fail(_ message: String) -> PromParseError { PromParseError(line: lineNo, message: message) }

    private mutating func run(_ text: String) throws -> PromExposition {
        guard !text.isEmpty else { throw PromParseError(line: 0, message: "empty exposition") }
        guard text.utf8.last == UInt8(ascii: "\n") else {
            throw PromParseError(line: 0, message: "the text does not end with a line feed")
        }
        // Split on the byte: for Swift's String, "\r\n" is one Character, not a "\n".
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()   // after the final "\n"
        for (i, raw) in lines.enumerated() {
            lineNo = i + 1
            let line = Array(raw)
            if line.contains(UInt8(ascii: "\r")) { throw fail("carriage return in line (lines end with \\n only)") }
            var c = Cursor(line)
            c.skipBlanks()
            if c.atEnd { continue }   // empty lines are ignored
            if c.peek == UInt8(ascii: "#") {
                try comment(&c)
            } else {
                try sample(&c)
            }
        }
        lineNo = 0
        try validateFamilies()
        return out
    }

    // MARK: grouping

    /// A line of family `name` follows: enforce one group per family.
    private mutating func enter(_ name: String) throws {
        if currentFamily == name { return }
        if options.requireContiguousFamilies && closedFamilies.contains(name) {
            throw fail("lines of metric family '\(name)' are not in one group (its group ended before this line)")
        }
        if let c = currentFamily { closedFamilies.insert(c) }
        currentFamily = name
    }

    // MARK: comments

    private mutating func comment(_ c: inout Cursor) throws {
        c.advance()   // '#'
        let hadBlank = c.skipBlanks()
        let word = c.takeWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard hadBlank, word == "HELP" || word == "TYPE" else { return }   // a plain comment
        guard c.skipBlanks() else { throw fail("\(word): expected a metric name after '# \(word)'") }
        let name = c.takeWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard Self.isMetricName(name) else { throw fail("\(word): invalid metric name '\(name)'") }
        if word == "HELP" {
            var help = ""
            if c.skipBlanks() {
                help = try unescape(c.rest, allowQuote: false, what: "HELP text")
            } else if !c.atEnd {
                throw fail("HELP: expected a blank after the metric name")
            }
            try enter(name)
            if out.family(name) == nil {
                out.addFamily(PromFamily(name: name, type: .untyped, declared: false, help: help))
            } else {
                guard out.family(name)!.help == nil else { throw fail("second HELP line for metric family '\(name)'") }
                guard out.family(name)!.samples.isEmpty else {
                    throw fail("HELP line for '\(name)' after its samples")
                }
                out.update(name) { $0.help = help }
            }
        } else {
            guard c.skipBlanks() else { throw fail("TYPE: expected a type after '\(name)'") }
            let typeWord = c.takeWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            c.skipBlanks()
            guard c.atEnd else { throw fail("TYPE: unexpected text after the type '\(typeWord)'") }
            guard let type = PromMetricType(rawValue: typeWord) else {
                throw fail("TYPE: unknown type '\(typeWord)' (counter, gauge, histogram, summary or untyped)")
            }
            try enter(name)
            if let f = out.family(name) {
                guard !f.declared else { throw fail("second TYPE line for metric family '\(name)'") }
                guard f.samples.isEmpty else { throw fail("TYPE line for '\(name)' after its samples") }
                out.update(name) { $0.type = type; $0.declared = true }
            } else {
                // A TYPE after samples that were attributed to another family by suffix is also late.
                if out.samples.contains(where: { $0.name == name }) {
                    throw fail("TYPE line for '\(name)' after its samples")
                }
                out.addFamily(PromFamily(name: name, type: type, declared: true, help: nil))
            }
        }
    }

    // MARK: samples

    private mutating func sample(_ c: inout Cursor) throws {
        let name = c.takeWhile { Self.isNameByte($0, colon: true) }
        guard Self.isMetricName(name) else {
            throw fail(name.isEmpty ? "expected a metric name" : "invalid metric name '\(name)'")
        }
        var labels: [PromLabel] = []
        var blank = c.skipBlanks()
        if c.peek == UInt8(ascii: "{") {
            c.advance()
            labels = try labelList(&c)
            blank = c.skipBlanks()
        }
        guard !c.atEnd else { throw fail("missing value for '\(name)'") }
        guard blank else { throw fail("expected a blank between '\(name)' and its value, found '\(c.rest)'") }
        let valueText = c.takeWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard !valueText.isEmpty else { throw fail("missing value for '\(name)'") }
        guard let value = Self.parseGoFloat(valueText) else {
            throw fail("invalid value '\(valueText)' (a Go float: 1, -2.5, 1e3, +Inf, -Inf, NaN)")
        }
        var timestamp: Int64?
        if c.skipBlanks() && !c.atEnd {
            let ts = c.takeWhile { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            guard let t = Self.parseInt64(ts) else { throw fail("invalid timestamp '\(ts)' (an int64 in milliseconds)") }
            timestamp = t
            c.skipBlanks()
        }
        guard c.atEnd else { throw fail("unexpected text after the sample: '\(c.rest)'") }

        let family = try resolveFamily(name)
        try enter(family)
        let key = name + "{" + labels.map { "\($0.name)=\(Self.quoted($0.value))" }.sorted().joined(separator: ",") + "}"
        guard seriesSeen.insert(key).inserted else { throw fail("duplicate series \(key)") }
        let f = out.family(family)!
        if f.type == .counter && value < 0 { throw fail("counter \(name) is negative (\(valueText))") }
        if f.type == .histogram && name == family {
            throw fail("histogram '\(family)' has a sample without a _bucket, _sum or _count suffix")
        }
        out.append(PromSample(name: name, family: family, labels: labels, value: value, timestamp: timestamp, line: lineNo))
    }

    /// The family a sample name belongs to (creating an untyped one when allowed).
    private mutating func resolveFamily(_ name: String) throws -> String {
        if let f = out.family(name) {
            // A HELP line alone does not declare the family's type.
            if !f.declared && options.requireTypeForEverySample {
                throw fail("sample '\(name)' has no TYPE line declaring its family (only HELP)")
            }
            return name
        }
        for (suffix, types) in [("_bucket", [PromMetricType.histogram]), ("_sum", [.histogram, .summary]),
                                ("_count", [.histogram, .summary])] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let f = out.family(base), types.contains(f.type) { return base }
        }
        if options.requireTypeForEverySample {
            throw fail("sample '\(name)' has no TYPE line declaring its family")
        }
        out.addFamily(PromFamily(name: name, type: .untyped, declared: false, help: nil))
        return name
    }

    /// After `{`: label pairs up to and including `}`.
    private func labelList(_ c: inout Cursor) throws -> [PromLabel] {
        var labels: [PromLabel] = []
        while true {
            c.skipBlanks()
            if c.peek == UInt8(ascii: "}") { c.advance(); return labels }   // `{}` or a trailing comma
            let name = c.takeWhile { Self.isNameByte($0, colon: false) }
            guard Self.isLabelName(name) else {
                if c.atEnd { throw fail("unterminated label set") }
                throw fail(name.isEmpty ? "expected a label name, found '\(Character(Unicode.Scalar(c.peek!)))'"
                                        : "invalid label name '\(name)'")
            }
            guard name != "__name__" else { throw fail("label name '__name__' is reserved") }
            guard !labels.contains(where: { $0.name == name }) else { throw fail("label '\(name)' given twice") }
            c.skipBlanks()
            guard c.peek == UInt8(ascii: "=") else { throw fail("expected '=' after label name '\(name)'") }
            c.advance()
            c.skipBlanks()
            guard c.peek == UInt8(ascii: "\"") else { throw fail("expected '\"' to start the value of label '\(name)'") }
            c.advance()
            var raw: [UInt8] = []
            var closed = false
            while let b = c.peek {
                c.advance()
                if b == UInt8(ascii: "\\") {
                    guard let e = c.peek else { break }
                    c.advance()
                    raw.append(b)
                    raw.append(e)
                    continue
                }
                if b == UInt8(ascii: "\"") { closed = true; break }
                raw.append(b)
            }
            guard closed else { throw fail("unterminated value of label '\(name)'") }
            let value = try unescape(String(decoding: raw, as: UTF8.self), allowQuote: true, what: "value of label '\(name)'")
            labels.append(PromLabel(name: name, value: value))
            c.skipBlanks()
            if c.peek == UInt8(ascii: ",") { c.advance(); continue }
            if c.peek == UInt8(ascii: "}") { c.advance(); return labels }
            if c.atEnd { throw fail("unterminated label set") }
            throw fail("expected ',' or '}' after the value of label '\(name)'")
        }
    }

    /// Label values: `\\`, `\"`, `\n`; HELP text: `\\`, `\n`. Anything else after a backslash is an error.
    private func unescape(_ s: String, allowQuote: Bool, what: String) throws -> String {
        var out = ""
        var it = s.makeIterator()
        while let ch = it.next() {
            guard ch == "\\" else { out.append(ch); continue }
            guard let e = it.next() else { throw fail("\(what): a backslash at the end") }
            switch e {
            case "\\": out.append("\\")
            case "n": out.append("\n")
            case "\"" where allowQuote: out.append("\"")
            default: throw fail("\(what): invalid escape sequence '\\\(e)'")
            }
        }
        return out
    }

    // MARK: families as a whole

    private func validateFamilies() throws {
        for name in out.familyOrder {
            let f = out.family(name)!
            switch f.type {
            case .histogram: try validateHistogram(f)
            case .summary: try validateSummary(f)
            default: break
            }
        }
    }

    private static func seriesKey(_ s: PromSample, dropping: String) -> String {
        s.labels.filter { $0.name != dropping }.map { "\($0.name)=\(quoted($0.value))" }.sorted().joined(separator: ",")
    }

    private func familyError(_ f: PromFamily, _ line: Int, _ message: String) -> PromParseError {
        PromParseError(line: line, message: "histogram '\(f.name)': \(message)")
    }

    private func validateHistogram(_ f: PromFamily) throws {
        struct Series { var buckets: [(le: Double, count: Double, line: Int)] = []; var sum: Double?; var count: Double?; var line = 0 }
        var series: [String: Series] = [:]
        var order: [String] = []
        for s in f.samples {
            let key = Self.seriesKey(s, dropping: s.name == f.name + "_bucket" ? "le" : "")
            if series[key] == nil { series[key] = Series(line: s.line); order.append(key) }
            if s.name == f.name + "_bucket" {
                guard let leText = s.label("le") else { throw familyError(f, s.line, "a _bucket sample without an 'le' label") }
                guard let le = Self.parseGoFloat(leText), !le.isNaN else {
                    throw familyError(f, s.line, "le=\"\(leText)\" is not a number")
                }
                guard s.value >= 0, !s.value.isNaN else { throw familyError(f, s.line, "bucket count \(s.value) is not a count") }
                if let last = series[key]!.buckets.last {
                    guard le > last.le else {
                        throw familyError(f, s.line, "bucket le=\"\(leText)\" is not above the previous bound \(last.le) of {\(key)}")
                    }
                    guard s.value >= last.count else {
                        throw familyError(f, s.line, "bucket le=\"\(leText)\" count \(s.value) is below the previous bucket's \(last.count) of {\(key)} (buckets are cumulative)")
                    }
                }
                series[key]!.buckets.append((le, s.value, s.line))
            } else if s.name == f.name + "_sum" {
                guard s.label("le") == nil else { throw familyError(f, s.line, "_sum has an 'le' label") }
                series[key]!.sum = s.value
            } else if s.name == f.name + "_count" {
                guard s.label("le") == nil else { throw familyError(f, s.line, "_count has an 'le' label") }
                guard s.value >= 0 else { throw familyError(f, s.line, "_count is negative") }
                series[key]!.count = s.value
            }
        }
        for key in order {
            let s = series[key]!
            guard let last = s.buckets.last else { throw familyError(f, s.line, "series {\(key)} has no _bucket samples") }
            guard last.le == .infinity else {
                throw familyError(f, last.line, "series {\(key)} does not end with an le=\"+Inf\" bucket")
            }
            guard let count = s.count else { throw familyError(f, s.line, "series {\(key)} has no _count") }
            guard s.sum != nil else { throw familyError(f, s.line, "series {\(key)} has no _sum") }
            guard last.count == count else {
                throw familyError(f, last.line, "series {\(key)}: the +Inf bucket (\(last.count)) differs from _count (\(count))")
            }
        }
    }

    private func validateSummary(_ f: PromFamily) throws {
        var hasSum = Set<String>(), hasCount = Set<String>(), keys: [String: Int] = [:]
        for s in f.samples {
            if s.name == f.name {
                guard let q = s.label("quantile"), let v = Self.parseGoFloat(q), v >= 0, v <= 1 else {
                    throw PromParseError(line: s.line, message: "summary '\(f.name)': a sample without a quantile label in 0...1")
                }
                keys[Self.seriesKey(s, dropping: "quantile")] = s.line
            } else {
                let k = Self.seriesKey(s, dropping: "")
                keys[k] = keys[k] ?? s.line
                if s.name.hasSuffix("_sum") { hasSum.insert(k) } else { hasCount.insert(k) }
            }
        }
        for (k, line) in keys where !hasSum.contains(k) || !hasCount.contains(k) {
            throw PromParseError(line: line, message: "summary '\(f.name)': series {\(k)} lacks _sum or _count")
        }
    }

    // MARK: lexical helpers

    static func isNameByte(_ b: UInt8, colon: Bool) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x5F
            || (colon && b == 0x3A)
    }

    /// [a-zA-Z_:][a-zA-Z0-9_:]*
    static func isMetricName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return s.utf8.allSatisfy { isNameByte($0, colon: true) }
    }

    /// [a-zA-Z_][a-zA-Z0-9_]*
    static func isLabelName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return s.utf8.allSatisfy { isNameByte($0, colon: false) }
    }

    static func quoted(_ s: String) -> String {
        var o = "\""
        for ch in s {
            switch ch {
            case "\\": o += "\\\\"
            case "\"": o += "\\\""
            case "\n": o += "\\n"
            default: o.append(ch)
            }
        }
        return o + "\""
    }

    /// Go's strconv.ParseFloat(s, 64) syntax: decimal (`1`, `-1.5`, `.5`, `5.`, `1e-3`), hexadecimal
    /// with a binary exponent (`0x1.8p3`), and `inf`/`infinity`/`nan` in any case with an optional
    /// sign for the infinities. (Go's `_` digit separators are not accepted.)
    static func parseGoFloat(_ s: String) -> Double? {
        var b = Array(s.utf8)
        guard !b.isEmpty else { return nil }
        var negative = false
        var signed = false
        if b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-") {
            negative = b[0] == UInt8(ascii: "-")
            signed = true
            b.removeFirst()
        }
        let lower = String(decoding: b, as: UTF8.self).lowercased()
        if lower == "inf" || lower == "infinity" { return negative ? -.infinity : .infinity }
        if lower == "nan" { return signed ? nil : .nan }
        func digits(_ i: inout Int, hex: Bool) -> Int {
            let start = i
            while i < b.count {
                let c = b[i]
                let isDec = c >= 0x30 && c <= 0x39
                let isHex = isDec || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
                if hex ? !isHex : !isDec { break }
                i += 1
            }
            return i - start
        }
        var i = 0
        var hex = false
        if b.count >= 2, b[0] == UInt8(ascii: "0"), b[1] == UInt8(ascii: "x") || b[1] == UInt8(ascii: "X") {
            hex = true
            i = 2
        }
        var mantissa = digits(&i, hex: hex)
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            mantissa += digits(&i, hex: hex)
        }
        guard mantissa > 0 else { return nil }
        let expChar: [UInt8] = hex ? [UInt8(ascii: "p"), UInt8(ascii: "P")] : [UInt8(ascii: "e"), UInt8(ascii: "E")]
        if i < b.count, expChar.contains(b[i]) {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&i, hex: false) > 0 else { return nil }
        } else if hex {
            return nil   // Go requires the p exponent in a hexadecimal float
        }
        guard i == b.count else { return nil }
        guard let v = Double(String(decoding: b, as: UTF8.self)) else { return nil }
        return negative ? -v : v
    }

    /// An int64 as Go's strconv.ParseInt(s, 10, 64) reads it.
    static func parseInt64(_ s: String) -> Int64? {
        var u = Array(s.utf8)
        guard !u.isEmpty else { return nil }
        var sign = ""
        if u[0] == UInt8(ascii: "+") || u[0] == UInt8(ascii: "-") {
            sign = u[0] == UInt8(ascii: "-") ? "-" : ""
            u.removeFirst()
        }
        guard !u.isEmpty, u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(sign + String(decoding: u, as: UTF8.self))
    }
}

/// A byte cursor over one line.
private struct Cursor {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    var atEnd: Bool { i >= b.count }
    var peek: UInt8? { i < b.count ? b[i] : nil }
    mutating func advance() { i += 1 }
    var rest: String { String(decoding: b[min(i, b.count)...], as: UTF8.self) }

    /// Skips spaces and tabs; true if it skipped any.
    @discardableResult
    mutating func skipBlanks() -> Bool {
        let start = i
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 { i += 1 }
        return i > start
    }

    mutating func takeWhile(_ pred: (UInt8) -> Bool) -> String {
        let start = i
        while i < b.count, pred(b[i]) { i += 1 }
        return String(decoding: b[start..<i], as: UTF8.self)
    }
}
