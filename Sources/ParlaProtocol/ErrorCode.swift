/// Stable error codes carried by `error` frames. Clients match on these, so a
/// code is never renamed; new ones may be added.
public enum ErrorCode: String, Sendable, Codable, CaseIterable {
    // Malformed input
    case badJSON = "bad_json"
    case badFrame = "bad_frame"
    case badBase64 = "bad_base64"
    case unknownType = "unknown_type"
    case frameTooLarge = "frame_too_large"
    case binaryNotSupported = "binary_not_supported"
    // Handshake and accounts
    case unsupportedVersion = "unsupported_version"
    case notAuthenticated = "not_authenticated"
    case alreadyAuthenticated = "already_authenticated"
    case badSignature = "bad_signature"
    case staleTimestamp = "stale_timestamp"
    case unknownUser = "unknown_user"
    case nameTaken = "name_taken"
    case invalidName = "invalid_name"
    case invalidKey = "invalid_key"
    case inviteRequired = "invite_required"
    case invalidInvite = "invalid_invite"
    case authTimeout = "auth_timeout"
    case tooManyAttempts = "too_many_attempts"
    // Messaging
    case invalidID = "invalid_id"
    case idConflict = "id_conflict"
    case unknownRecipient = "unknown_recipient"
    case messageTooLarge = "message_too_large"
    case mailboxFull = "mailbox_full"
    case rateLimited = "rate_limited"
    case tooManyIDs = "too_many_ids"
    // Groups
    case unknownGroup = "unknown_group"
    case groupExists = "group_exists"
    case notMember = "not_member"
    case notAdmin = "not_admin"
    case groupFull = "group_full"
    case membershipChanged = "membership_changed"
    // Attachments
    case unknownBlob = "unknown_blob"
    case blobIncomplete = "blob_incomplete"
    case blobQuotaExceeded = "blob_quota_exceeded"
    // Relay side
    case storageUnavailable = "storage_unavailable"
    case internalError = "internal"
}

/// WebSocket close codes the relay uses besides the standard ones
/// (1000 normal, 1001 going away, 1009 message too big).
public enum CloseCode {
    /// Another login for the same user replaced this connection.
    public static let replaced: UInt16 = 4000
    /// Authentication did not complete in time.
    public static let authTimeout: UInt16 = 4001
    /// Authentication failed too many times on this connection.
    public static let authFailed: UInt16 = 4002
    /// The client asked for a protocol version this relay does not speak.
    public static let unsupportedVersion: UInt16 = 4003
}
