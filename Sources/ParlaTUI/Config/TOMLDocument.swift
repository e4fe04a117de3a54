/// A TOML value with the line it was written on, so configuration errors can
/// name the exact place a user has to fix.
public struct TOMLValue: Sendable, Equatable {
    public indirect enum Kind: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case float(Double)
        case bool(Bool)
        case array([TOMLValue])
        case table(TOMLTable)
    }

    public var kind: Kind
    public var line: Int

    /// How the value's type reads in an error message.
    public var typeName: String {
        switch kind {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "true or false"
        case .array: "a list"
        case .table: "a table"
        }
    }
}

/// A TOML table that keeps its keys in file order.
public struct TOMLTable: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var values: [String: TOMLValue] = [:]
    /// Where the table was opened (its `[header]`, or 0 for the document root).
    public var line: Int

    public init(line: Int = 0) {
        self.line = line
    }

    public subscript(key: String) -> TOMLValue? {
        get { values[key] }
        set {
            if values[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            values[key] = newValue
        }
    }

    public var entries: [(key: String, value: TOMLValue)] { keys.map { ($0, values[$0]!) } }
}

/// A configuration file that could not be read; says which file, which line and why.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// Reads the TOML that Parla's themes and config use: tables, dotted and quoted
/// keys, strings, integers, floats, booleans, arrays and inline tables. Dates and
/// arrays of tables are rejected with a clear message rather than misread.
public enum TOMLDocument {
    public static func parse(_ text: String, file: String) throws(TOMLError) -> TOMLTable {
        var parser = Parser(scalars: Array(text.unicodeScalars), file: file)
        return try parser.document()
    }
}

private struct Parser {
    let scalars: [Unicode.Scalar]
    let file: String
    var index = 0
    var line = 1
    var root = TOMLTable()
    /// Path of the current `[table]`.
    var current: [String] = []
    /// Tables opened by a header: opening one twice is an error, as in TOML.
    var explicitTables: Set<[String]> = []
    /// Lists and inline tables open around the current value.
    var depth = 0
    /// Deeper nesting is refused: each level is a recursive call, and a file of `[[[[…` must be
    /// an error, not a crash (found by the fuzzer, Tests/Fuzz).
    static let maxDepth = 32

    init(scalars: [Unicode.Scalar], file: String) {
        self.scalars = scalars
        self.file = file
    }

    func fail(_ message: String, line: Int? = nil) -> TOMLError {
        TOMLError(file: file, line: line ?? self.line, message: message)
    }

    var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    mutating func advance() {
        if peek == "\n" { line += 1 }
        index += 1
    }

    mutating func skipSpaces() {
        while let c = peek, c == " " || c == "\t" { advance() }
    }

    mutating func skipComment() {
        if peek == "#" { while let c = peek, c != "\n" { advance() } }
    }

    /// Spaces, comments and newlines (inside arrays).
    mutating func skipBlank() {
        while let c = peek {
            if c == " " || c == "\t" || c == "\n" || c == "\r" { advance() } else if c == "#" { skipComment() } else { break }
        }
    }

    mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        skipComment()
        if peek == "\r" { advance() }
        guard peek == nil || peek == "\n" else { throw fail("unexpected '\(peek!)' after the value; one key = value per line") }
        if peek == "\n" { advance() }
    }

    mutating func document() throws(TOMLError) -> TOMLTable {
        while peek != nil {
            skipBlank()
            guard let c = peek else { break }
            if c == "[" {
                try header()
            } else {
                let (key, value, keyLine) = try keyValue()
                try insert(value, at: current + key, line: keyLine, in: &root, prefix: [])
                try endOfLine()
            }
        }
        return root
    }

    /// `key = value` (at top level or inside an inline table), with the line the key is on.
    mutating func keyValue() throws(TOMLError) -> (key: [String], value: TOMLValue, line: Int) {
        let keyLine = line
        let key = try dottedKey()
        skipSpaces()
        guard peek == "=" else { throw fail("expected '=' after key '\(key.joined(separator: "."))'") }
        advance()
        skipSpaces()
        return (key, try value(), keyLine)
    }

    mutating func header() throws(TOMLError) {
        let headerLine = line
        advance()
        if peek == "[" { throw fail("arrays of tables ([[...]]) are not supported here") }
        skipSpaces()
        let path = try dottedKey()
        skipSpaces()
        guard peek == "]" else { throw fail("expected ']' to close the table header") }
        advance()
        try endOfLine()
        guard !explicitTables.contains(path) else { throw fail("table [\(path.joined(separator: "."))] is defined twice", line: headerLine) }
        explicitTables.insert(path)
        try openTable(path, line: headerLine, in: &root, prefix: [])
        current = path
    }

    func openTable(_ path: [String], line: Int, in table: inout TOMLTable, prefix: [String]) throws(TOMLError) {
        guard let first = path.first else { return }
        var child: TOMLTable
        switch table[first]?.kind {
        case nil: child = TOMLTable(line: line)
        case .table(let existing)?: child = existing
        case _?: throw fail("'\((prefix + [first]).joined(separator: "."))' is already a value, not a table", line: line)
        }
        try openTable(Array(path.dropFirst()), line: line, in: &child, prefix: prefix + [first])
        table[first] = TOMLValue(kind: .table(child), line: table[first]?.line ?? line)
    }

    func insert(_ value: TOMLValue, at path: [String], line: Int, in table: inout TOMLTable, prefix: [String]) throws(TOMLError) {
        let key = path[0]
        let name = (prefix + [key]).joined(separator: ".")
        if path.count == 1 {
            guard table[key] == nil else { throw fail("key '\(name)' is set twice", line: line) }
            table[key] = value
            return
        }
        var child: TOMLTable
        switch table[key]?.kind {
        case nil: child = TOMLTable(line: line)
        case .table(let existing)?: child = existing
        case _?: throw fail("'\(name)' is already a value, not a table", line: line)
        }
        try insert(value, at: Array(path.dropFirst()), line: line, in: &child, prefix: prefix + [key])
        table[key] = TOMLValue(kind: .table(child), line: table[key]?.line ?? line)
    }

    mutating func dottedKey() throws(TOMLError) -> [String] {
        var parts = [try simpleKey()]
        while true {
            skipSpaces()
            guard peek == "." else { return parts }
            advance()
            skipSpaces()
            parts.append(try simpleKey())
        }
    }

    mutating func simpleKey() throws(TOMLError) -> String {
        if peek == "\"" { return try basicString() }
        if peek == "'" { return try literalString() }
        var key = ""
        while let c = peek, c.properties.isAlphabetic && c.isASCII || ("0"..."9").contains(c) || c == "_" || c == "-" {
            key.unicodeScalars.append(c)
            advance()
        }
        guard !key.isEmpty else {
            throw fail(peek.map { "unexpected '\($0)' where a key should be" } ?? "a key is missing at the end of the file")
        }
        return key
    }

    mutating func value() throws(TOMLError) -> TOMLValue {
        let valueLine = line
        guard let c = peek else { throw fail("a value is missing after '='") }
        switch c {
        case "\"":
            if scalars.count > index + 2, scalars[index + 1] == "\"", scalars[index + 2] == "\"" {
                throw fail("multi-line strings (\"\"\") are not supported here")
            }
            return TOMLValue(kind: .string(try basicString()), line: valueLine)
        case "'":
            return TOMLValue(kind: .string(try literalString()), line: valueLine)
        case "[", "{":
            guard depth < Self.maxDepth else { throw fail("lists and tables are nested more than \(Self.maxDepth) deep") }
            depth += 1
            defer { depth -= 1 }
            return c == "[" ? TOMLValue(kind: .array(try array()), line: valueLine) : TOMLValue(kind: .table(try inlineTable()), line: valueLine)
        default:
            var word = ""
            while let c = peek, !" \t\r\n,]}#".unicodeScalars.contains(c) {
                word.unicodeScalars.append(c)
                advance()
            }
            if word == "true" { return TOMLValue(kind: .bool(true), line: valueLine) }
            if word == "false" { return TOMLValue(kind: .bool(false), line: valueLine) }
            let digits = word.replacingOccurrences(of: "_", with: "")
            if let number = Int(digits) { return TOMLValue(kind: .integer(number), line: valueLine) }
            if digits.hasPrefix("0x"), let number = Int(digits.dropFirst(2), radix: 16) { return TOMLValue(kind: .integer(number), line: valueLine) }
            if let number = Double(digits), digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                return TOMLValue(kind: .float(number), line: valueLine)
            }
            if word.isEmpty { throw fail("a value is missing after '='", line: valueLine) }
            throw fail("'\(word)' is not a value: strings need quotes, e.g. \"\(word)\"", line: valueLine)
        }
    }

    mutating func basicString() throws(TOMLError) -> String {
        advance()
        var result = ""
        while true {
            guard let c = peek, c != "\n" else { throw fail("string is not closed with \" on this line") }
            advance()
            if c == "\"" { return result }
            if c != "\\" {
                result.unicodeScalars.append(c)
                continue
            }
            guard let escape = peek else { throw fail("string ends inside an escape") }
            advance()
            switch escape {
            case "n": result += "\n"
            case "t": result += "\t"
            case "r": result += "\r"
            case "\"": result += "\""
            case "\\": result += "\\"
            case "b": result += "\u{8}"
            case "f": result += "\u{C}"
            case "e": result += "\u{1B}"
            case "u", "U":
                let count = escape == "u" ? 4 : 8
                var hex = ""
                for _ in 0..<count {
                    guard let h = peek else { break }
                    hex.unicodeScalars.append(h)
                    advance()
                }
                guard let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
                    throw fail("'\\\(escape)\(hex)' is not a valid Unicode escape")
                }
                result.unicodeScalars.append(scalar)
            default:
                throw fail("unknown escape '\\\(escape)' in a string")
            }
        }
    }

    mutating func literalString() throws(TOMLError) -> String {
        advance()
        var result = ""
        while true {
            guard let c = peek, c != "\n" else { throw fail("string is not closed with ' on this line") }
            advance()
            if c == "'" { return result }
            result.unicodeScalars.append(c)
        }
    }

    mutating func array() throws(TOMLError) -> [TOMLValue] {
        let start = line
        advance()
        var items: [TOMLValue] = []
        while true {
            skipBlank()
            guard let c = peek else { throw fail("list opened on line \(start) is not closed with ']'") }
            if c == "]" {
                advance()
                return items
            }
            items.append(try value())
            skipBlank()
            if peek == "," {
                advance()
            } else if peek != "]" {
                throw fail(peek.map { "expected ',' or ']' in the list, found '\($0)'" } ?? "list opened on line \(start) is not closed with ']'")
            }
        }
    }

    mutating func inlineTable() throws(TOMLError) -> TOMLTable {
        let start = line
        advance()
        var table = TOMLTable(line: start)
        skipSpaces()
        if peek == "}" {
            advance()
            return table
        }
        while true {
            skipSpaces()
            let (key, value, keyLine) = try keyValue()
            try insert(value, at: key, line: keyLine, in: &table, prefix: [])
            skipSpaces()
            guard let c = peek else { throw fail("inline table opened on line \(start) is not closed with '}'") }
            advance()
            if c == "}" { return table }
            guard c == "," else { throw fail("expected ',' or '}' in the inline table, found '\(c)'") }
        }
    }
}
