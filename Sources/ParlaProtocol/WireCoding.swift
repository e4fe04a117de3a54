import Foundation

/// Field names shared by every frame. One list keeps the encoder and decoder in step.
enum FieldKey: String, CodingKey {
    case type, version, relay, nonce, time, name, signingKey, agreementKey, timestamp, signature, invite
    case id, to, from, body, ids, code, message, ref, sentAt, kind, messageIds, at, user, online, lastSeen
    case pending, delivered
    case bundle, signedPreKeyId, signedPreKey, signedPreKeySignature, oneTimePreKeyId, oneTimePreKey
    case oneTimePreKeyIds, oneTimePreKeys, oneTimePreKeysLeft, replaceOneTimePreKeys
    case group, title, members, admins, action, actor, subjects, copies, change, key
    case blob, size, chunks, index, count, have, data, recipients
}

typealias Fields = KeyedDecodingContainer<FieldKey>

extension KeyedDecodingContainer where K == FieldKey {
    func string(_ key: FieldKey) throws -> String {
        try require(key) { try decode(String.self, forKey: key) }
    }

    func optionalString(_ key: FieldKey) throws -> String? {
        try require(key) { try decodeIfPresent(String.self, forKey: key) }
    }

    func int64(_ key: FieldKey) throws -> Int64 {
        try require(key) { try decode(Int64.self, forKey: key) }
    }

    func optionalInt64(_ key: FieldKey) throws -> Int64? {
        try require(key) { try decodeIfPresent(Int64.self, forKey: key) }
    }

    func int(_ key: FieldKey) throws -> Int {
        try require(key) { try decode(Int.self, forKey: key) }
    }

    func bool(_ key: FieldKey) throws -> Bool {
        try require(key) { try decode(Bool.self, forKey: key) }
    }

    func optionalBool(_ key: FieldKey) throws -> Bool? {
        try require(key) { try decodeIfPresent(Bool.self, forKey: key) }
    }

    func optionalInt64(_ key: FieldKey, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let value = try optionalInt64(key) else { return nil }
        guard range.contains(value) else { throw FrameError(.badFrame, "field '\(key.rawValue)' must be in \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    func optionalBytes(_ key: FieldKey) throws -> Data? {
        guard try optionalString(key) != nil else { return nil }
        return try bytes(key)
    }

    func int64s(_ key: FieldKey) throws -> [Int64] {
        try require(key) { try decodeIfPresent([Int64].self, forKey: key) ?? [] }
    }

    /// An array of base64 strings; absent means empty.
    func bytesArray(_ key: FieldKey) throws -> [Data] {
        let texts = try require(key) { try decodeIfPresent([String].self, forKey: key) ?? [] }
        return try texts.map { text in
            guard let data = Data(base64Encoded: text) else { throw FrameError(.badBase64, "field '\(key.rawValue)' has an entry that is not valid base64") }
            return data
        }
    }

    func optionalStrings(_ key: FieldKey) throws -> [String] {
        try require(key) { try decodeIfPresent([String].self, forKey: key) ?? [] }
    }

    func groupAction(_ key: FieldKey) throws -> GroupAction {
        let raw = try string(key)
        guard let action = GroupAction(rawValue: raw) else {
            throw FrameError(.badFrame, "field '\(key.rawValue)' must be one of \(GroupAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return action
    }

    func copies(_ key: FieldKey) throws -> [ClientFrame.GroupSend.Copy] {
        try require(key) { try decode([ClientFrame.GroupSend.Copy].self, forKey: key) }
    }

    /// `{"statement": base64, "signature": base64}`, or nil when absent.
    func groupChange(_ key: FieldKey) throws -> SignedGroupChange? {
        try require(key) { try decodeIfPresent(SignedGroupChange.self, forKey: key) }
    }

    func strings(_ key: FieldKey) throws -> [String] {
        try require(key) { try decode([String].self, forKey: key) }
    }

    /// Base64 (standard alphabet, padded) decoded to bytes.
    func bytes(_ key: FieldKey) throws -> Data {
        let text = try string(key)
        guard let data = Data(base64Encoded: text) else {
            throw FrameError(.badBase64, "field '\(key.rawValue)' is not valid base64")
        }
        return data
    }

    /// Turns Foundation's decoding errors into protocol errors that name the field.
    private func require<T>(_ key: FieldKey, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as FrameError {
            throw error
        } catch DecodingError.keyNotFound {
            throw FrameError(.badFrame, "missing field '\(key.rawValue)'")
        } catch DecodingError.valueNotFound {
            throw FrameError(.badFrame, "field '\(key.rawValue)' must not be null")
        } catch DecodingError.typeMismatch(let type, _) {
            throw FrameError(.badFrame, "field '\(key.rawValue)' must be \(Self.describe(type))")
        } catch DecodingError.dataCorrupted {
            throw FrameError(.badFrame, "field '\(key.rawValue)' has an invalid value")
        } catch {
            throw FrameError(.badFrame, "field '\(key.rawValue)': \(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int64.Type, is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is [String].Type: "an array of strings"
        default: "of type \(type)"
        }
    }
}

extension KeyedEncodingContainer where K == FieldKey {
    mutating func encodeBytes(_ data: Data, forKey key: FieldKey) throws {
        try encode(data.base64EncodedString(), forKey: key)
    }

    mutating func encodeBytesIfPresent(_ data: Data?, forKey key: FieldKey) throws {
        if let data { try encodeBytes(data, forKey: key) }
    }
}

/// Decodes one frame, mapping every failure to a `FrameError`.
func decodeFrame<T: Decodable>(_ type: T.Type, from data: Data) throws(FrameError) -> T {
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as FrameError {
        throw error
    } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
        throw FrameError(.badJSON, "frame is not valid JSON")
    } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
        throw FrameError(.badFrame, "frame must be a JSON object")
    } catch {
        throw FrameError(.badFrame, "malformed frame: \(error)")
    }
}

func encodeFrame<T: Encodable>(_ frame: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding our own value types cannot fail: every field is a string, number, bool or array.
    let data = (try? encoder.encode(frame)) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}
