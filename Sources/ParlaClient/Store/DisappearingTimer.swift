import Foundation

/// How long messages of a chat last once sent (or, on the receiving side, once received):
/// written "30s", "5m", "1h", "1d", "1w" or "off".
public enum DisappearingTimer {
    /// Shorter than this, a message could be gone before it is read on a slow link.
    public static let shortest = 5
    public static let longest = 365 * 86_400

    /// Seconds for "1h" and the like; `.some(nil)` for "off"; nil when not a duration.
    public static func parse(_ text: String) -> Int?? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "off" || text == "0" { return .some(nil) }
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let scale = units[unit], let count = Int(text.dropLast()), count > 0,
              count <= longest / scale
        else { return nil }
        let seconds = count * scale
        return seconds >= shortest ? .some(seconds) : nil
    }

    /// "1 hour", "2 days", "90 seconds": the largest unit that divides it.
    public static func describe(_ seconds: Int) -> String {
        for (size, name) in [(604_800, "week"), (86_400, "day"), (3600, "hour"), (60, "minute")] where seconds % size == 0 {
            let count = seconds / size
            return "\(count) \(name)\(count == 1 ? "" : "s")"
        }
        return "\(seconds) second\(seconds == 1 ? "" : "s")"
    }

    /// "1h", "2d", "90s": as short as the chat header needs.
    public static func abbreviate(_ seconds: Int) -> String {
        for (size, unit) in [(604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m")] where seconds % size == 0 { return "\(seconds / size)\(unit)" }
        return "\(seconds)s"
    }

    public static let usage = "a duration such as 30s, 5m, 1h, 1d or 1w (at least \(shortest)s, at most a year), or off"
}
