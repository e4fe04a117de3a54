/// Several timings of one measure, reduced to what a reader compares.
public struct Summary: Codable, Sendable, Equatable {
    public var samples: Int
    public var minMs: Double
    public var p50Ms: Double
    public var maxMs: Double

    public init(milliseconds values: [Double]) {
        let sorted = values.sorted()
        samples = sorted.count
        minMs = sorted.first ?? 0
        maxMs = sorted.last ?? 0
        p50Ms = sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    public var line: String {
        "median \(Self.format(p50Ms)) ms (min \(Self.format(minMs)), max \(Self.format(maxMs)), \(samples) runs)"
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return String(rounded)
    }
}
