/// Sizes fixed by the protocol itself; relays may enforce lower frame limits.
public enum ProtocolLimits {
    /// Largest message body, after base64 decoding.
    public static let maxBodyBytes = 64 * 1024
    /// Longest client-generated message or receipt id.
    public static let maxIDLength = 64
    /// Most ids in one `confirm` or `read` frame.
    public static let maxIDsPerFrame = 1024
    /// Default largest text frame a relay accepts (a 64 KiB body is ~87 KiB in base64).
    public static let defaultMaxFrameBytes = 256 * 1024
    /// Fewer one-time prekeys than this: the owner publishes more (the relay tells an online
    /// owner when a fetch takes the count below it, and when it runs out).
    public static let prekeyLowWater = 20
}

/// Validation rules shared by client and relay so both reject the same input.
public enum Validation {
    /// 3–32 characters: lowercase ASCII letters, digits, `_`, `.`, `-`.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...32).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2E || b == 0x2D
        }
    }

    /// 1–64 characters: ASCII letters, digits, `_`, `.`, `-`, `:`.
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...ProtocolLimits.maxIDLength).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
                || b == 0x5F || b == 0x2E || b == 0x2D || b == 0x3A
        }
    }
}
