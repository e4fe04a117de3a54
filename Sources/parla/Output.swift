import Foundation
import ParlaClient
import Synchronization

/// How commands print: human lines by default, one JSON object per line with `--json`.
enum Output {
    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func printMessage(_ m: MessageRecord, json: Bool, reactions: [String: [String]] = [:]) {
        if json {
            var object: [String: Any] = [
                "id": m.id, "chat": m.chat, "from": m.from, "to": m.to, "text": m.text,
                "status": m.status.rawValue, "sentAt": iso8601(m.sentAt),
            ]
            if let reason = m.failureReason { object["reason"] = reason }
            if let replyTo = m.replyTo { object["replyTo"] = replyTo }
            if !reactions.isEmpty { object["reactions"] = reactions }
            if let edited = m.editedAt {
                object["edited"] = true
                object["editedAt"] = iso8601(edited)
            }
            if m.deleted != nil { object["deleted"] = true }
            if let expires = m.expiresAt { object["expiresAt"] = iso8601(expires) }
            if let file = m.attachment, !file.longText, m.deleted == nil {
                var attachment: [String: Any] = ["name": file.name, "size": file.size, "sha256": file.sha256, "state": file.state.rawValue]
                if let path = file.savedPath, file.state != .pending { attachment["savedPath"] = path }
                if let failure = file.failure { attachment["failure"] = failure }
                object["attachment"] = attachment
            }
            printJSON(object)
        } else {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm"
            // Peer text goes to a terminal: no control character reaches it (JSON escapes them itself).
            let reply = m.replyTo.map { " (reply to \(DisplayText.safe($0)))" } ?? ""
            var text = m.deleted != nil ? "(deleted)" : DisplayText.safe(m.text) + (m.editedAt != nil ? " (edited)" : "")
            if m.deleted == nil, let file = m.attachment, !file.longText {
                text = "[file \(DisplayText.safe(file.name)), \(ByteSize.describe(file.size)), \(file.state.rawValue)]" + (text.isEmpty ? "" : " " + text)
            }
            var line = "\(formatter.string(from: m.sentAt))  \(m.from)\(reply): \(text)"
            if m.isOutgoing { line += "  [\(m.status.rawValue)\(m.failureReason.map { ": " + DisplayText.safe($0) } ?? "")]" }
            if !reactions.isEmpty {
                line += "  " + reactions.sorted { $0.key < $1.key }.map { DisplayText.safe($0.key) + " " + $0.value.map(DisplayText.safe).joined(separator: ",") }.joined(separator: "  ")
            }
            print(line)
        }
    }

    static func printChat(_ c: ChatSummary, json: Bool) {
        if json {
            var object: [String: Any] = ["chat": c.name, "unread": c.unread, "lastActivity": iso8601(c.lastActivity)]
            if let last = c.lastMessage { object["lastMessage"] = last }
            if let inviter = c.invitedBy { object["invitedBy"] = inviter }
            if let timer = c.timer { object["timer"] = timer }
            printJSON(object)
        } else {
            let invitation = c.invitedBy.map { " (invitation from \(DisplayText.safe($0)))" } ?? ""
            let timer = c.timer.map { " (disappearing: \(DisappearingTimer.describe($0)))" } ?? ""
            print("\(c.name)\(invitation)\(timer)\(c.unread > 0 ? " (\(c.unread) unread)" : "")  \(DisplayText.safe(c.lastMessage ?? ""))")
        }
    }

    static func printStatus(user: String, server: String, connection: String, outbox: Int, json: Bool) {
        if json {
            printJSON(["user": user, "server": server, "connection": connection, "outbox": outbox])
        } else {
            print("user:       \(user)")
            print("server:     \(server)")
            print("connection: \(connection)")
            print("outbox:     \(outbox) queued")
        }
    }

    static func printJSON(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        print(String(decoding: data, as: UTF8.self))
        fflush(nil)
    }
}

/// Prints received messages for `parla sync` past the profile's sync cursor, moving the
/// cursor only once a line is out: a sync killed before printing leaves its messages to the
/// next one, and no message is printed by two syncs.
final class SyncPrinter: Sendable {
    private let store: ClientStore
    private let json: Bool
    private let printed: Mutex<Int64>

    init(store: ClientStore, json: Bool) throws {
        self.store = store
        self.json = json
        printed = Mutex(try store.syncCursor())
    }

    func showBacklog() throws {
        for record in try store.received(after: printed.withLock { $0 }) { show(record) }
    }

    func show(_ record: MessageRecord) {
        printed.withLock { printed in
            guard record.localID > printed else { return }
            Output.printMessage(record, json: json)
            fflush(nil)
            printed = record.localID
            try? store.setSyncCursor(printed)
        }
    }
}
