import Foundation
import ParlaClient
import ParlaProtocol
@testable import ParlaTUI
import Testing

/// Groups in the pure UI: the chat list and header, sender names, @mentions, and the
/// `/group`, `/members` and `/info` commands.
@Suite struct GroupUITests {
    static var groupState: AppState {
        var state = Fixture.state
        state.chats.insert(ChatSummary(name: "#team", unread: 0, lastActivity: Fixture.base, lastMessage: "ok"), at: 0)
        state.groups = ["team": .init(name: "team", title: "The team", members: ["alice", "bob", "carol"], admins: ["alice"], isMember: true)]
        state.selectedChat = "#team"
        func message(_ n: Int64, from: String, _ text: String, _ status: MessageStatus, minutes: Double) -> MessageRecord {
            MessageRecord(localID: n, id: "t\(n)", chat: "#team", from: from, to: "#team", text: text, status: status, failureReason: nil,
                          sentAt: Fixture.base.addingTimeInterval(minutes * 60))
        }
        state.conversation = [
            message(1, from: ClientStore.systemSender, "You created #team “The team” with bob, carol", .received, minutes: 0),
            message(2, from: "alice", "first to everyone", .read, minutes: 1),
            message(3, from: "bob", "hi all", .received, minutes: 2),
            message(4, from: "carol", "@alice can you check?", .received, minutes: 3),
            message(5, from: "alice", "on it", .delivered, minutes: 4),
        ]
        return state
    }

    @Test func theListCountsMembersTheHeaderNamesTheGroupAndMentionsStandOut() throws {
        let screen = Renderer(timeZone: Fixture.utc).render(Self.groupState, width: 100, height: 24, theme: .default)
        try assertSnapshot(screen, named: "group")
        #expect(screen.text.contains("#team (3)"))
        #expect(screen.row(0).contains("#team “The team” · 3 members"))
        let row = try #require((0..<screen.height).first { screen.row($0).contains("@alice can you check?") })
        let start = try #require(screen.row(row).range(of: "@alice"))
        let column = screen.row(row).distance(from: screen.row(row).startIndex, to: start.lowerBound)
        #expect(screen[column, row].role == .highlight, "the mention is highlighted")
        #expect(screen[column + 7, row].role == .otherMessage)
        // Each sender keeps a palette colour of their own.
        let theme = Theme.default
        #expect(theme.senderRole(for: "bob") != theme.senderRole(for: "carol") || theme.senderPalette.count < 2)
    }

    @Test func anInvitationIsMarkedSilentAndAnsweredWithAcceptOrDecline() {
        var state = Self.groupState
        state.chats[0].invitedBy = "mallory"
        state.chats[0].unread = 4
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: .default)
        let listRow = (1..<screen.height).map(screen.row).first { $0.contains("#team (3)") } ?? ""
        #expect(listRow.contains("✉"), "\(listRow)")
        #expect(screen.row(0).contains("invited by mallory: /accept /decline"), "\(screen.row(0))")
        #expect(state.totalUnread == Fixture.state.totalUnread, "an invitation's messages are not counted as unread news")
        #expect(state.isMuted("#team"), "it never rings")
        var plain = Theme.default
        plain.ascii = true
        let ascii = Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: plain)
        #expect(ascii.text.contains("(inv)"))

        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/accept") == [.answerInvitation(group: "team", accept: true)])
        #expect(run("/decline #team") == [.answerInvitation(group: "team", accept: false)])
        #expect(state.selectedChat == nil, "declined, the chat is gone")
        state.selectedChat = "bob"
        #expect(run("/accept").isEmpty && state.notice?.hasPrefix("no invitation here") == true)
    }

    @Test func aReplyQuotesTheMessageItAnswers() {
        var state = Self.groupState
        state.conversation.append(MessageRecord(localID: 6, id: "t6", chat: "#team", from: "bob", to: "#team", text: "yes, done", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(300), replyTo: "t4"))
        state.conversation.append(MessageRecord(localID: 7, id: "t7", chat: "#team", from: "carol", to: "#team", text: "and this?", status: .received,
                                                failureReason: nil, sentAt: Fixture.base.addingTimeInterval(360), replyTo: "gone"))
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: .default)
        let rows = (0..<screen.height).map(screen.row)
        let quoteRow = try? #require(rows.firstIndex { $0.contains("↪ carol: @alice can you check?") })
        #expect(quoteRow != nil, "\(screen.text)")
        if let quoteRow { #expect(rows[quoteRow + 1].contains("yes, done") && rows[quoteRow].contains("bob")) }
        #expect(rows.contains { $0.contains("↪ an earlier message") })
        var plain = Theme.default
        plain.ascii = true
        #expect(Renderer(timeZone: Fixture.utc).render(state, width: 100, height: 24, theme: plain).text.contains("> carol: @alice can you check?"))
    }

    @Test func groupCommandsBecomeRequestsForTheRelay() {
        var state = Self.groupState
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        #expect(run("/group create crew bob dave") == [.group(GroupRequest(name: "crew", action: .create, members: ["bob", "dave"], title: "crew"))])
        #expect(run("/group add dave") == [.group(GroupRequest(name: "team", action: .add, members: ["dave"]))], "the open group is meant")
        #expect(run("/group remove #team @bob") == [.group(GroupRequest(name: "team", action: .remove, members: ["bob"]))])
        #expect(run("/group rename The A Team") == [.group(GroupRequest(name: "team", action: .rename, title: "The A Team"))])
        #expect(run("/group leave") == [.group(GroupRequest(name: "team", action: .leave))])
        #expect(run("/group explode").isEmpty && state.notice?.hasPrefix("usage: /group") == true)
        #expect(run("/group add Not-A-Name").isEmpty && state.notice == "'Not-A-Name' is not a valid user name")
        #expect(run("/members").isEmpty && state.notice == "#team “The team”, 3 members: alice (admin), bob, carol")
        #expect(run("/info") == [.memberReceipts(messageID: "t5")], "the newest own message")
    }

    /// Ctrl-Up/Ctrl-Down walk a selection through the messages; `/info` and `/retry` act on
    /// the selected one; Esc clears it; the selected message is scrolled into view.
    @Test func aSelectedMessageIsWhatInfoAndRetryActOn() throws {
        var state = Self.groupState
        func run(_ line: String) -> [AppEffect] {
            state.editor.replace(with: line)
            return ReducerTests.remembered(line, Reducer.reduce(&state, .key(.enter)))
        }
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        #expect(state.highlighted == 5, "the first step selects the newest message")
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        #expect(state.highlighted == 3)
        #expect(run("/info").isEmpty && state.notice?.contains("one of your own group messages") == true, "bob's message has no receipts of ours")
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        #expect(run("/info") == [.memberReceipts(messageID: "t2")], "the selected own message, not the newest")
        _ = Reducer.reduce(&state, .key(.escape))
        #expect(state.highlighted == nil)
        #expect(run("/info") == [.memberReceipts(messageID: "t5")], "no selection: the newest")
        _ = Reducer.reduce(&state, .key(.ctrlUp))
        _ = Reducer.reduce(&state, .key(.ctrlDown))
        #expect(state.highlighted == nil, "newer than the newest clears the selection")

        // Failed messages: /retry takes the selected one only.
        state.conversation[1].status = .failed
        state.conversation[4].status = .failed
        state.highlighted = 2
        #expect(run("/retry") == [.retry(localIDs: [2])])
        state.highlighted = nil
        #expect(run("/retry") == [.retry(localIDs: [2, 5])])

        // A long chat in a short pane: the selection is scrolled into view.
        for n in Int64(6)...40 {
            state.conversation.append(MessageRecord(localID: n, id: "t\(n)", chat: "#team", from: "bob", to: "#team", text: "filler \(n)", status: .received,
                                                    failureReason: nil, sentAt: Fixture.base.addingTimeInterval(Double(n) * 60)))
        }
        state.highlighted = 3
        let screen = Renderer(timeZone: Fixture.utc).render(state, width: 80, height: 24, theme: .default)
        let row = try #require((0..<screen.height).first { screen.row($0).contains("hi all") }, "the selected message is on screen")
        let column = screen.row(row).distance(from: screen.row(row).startIndex, to: screen.row(row).range(of: "hi all")!.lowerBound)
        #expect(screen[column, row].role == .highlight)
        #expect(!screen.text.contains("filler 40"), "scrolled up to it")
    }

    @Test func aMentionRingsEvenInTheOpenChat() {
        var state = Self.groupState
        let mention = MessageRecord(localID: 9, id: "t9", chat: "#team", from: "bob", to: "#team", text: "thanks @alice!", status: .received,
                                    failureReason: nil, sentAt: Fixture.base)
        #expect(Reducer.reduce(&state, .engine(.messageAdded(mention))).contains(.mentionBell))
        let plain = MessageRecord(localID: 10, id: "t10", chat: "#team", from: "bob", to: "#team", text: "mail alice@example.org", status: .received,
                                  failureReason: nil, sentAt: Fixture.base)
        #expect(!Reducer.reduce(&state, .engine(.messageAdded(plain))).contains(.mentionBell))
    }

    @Test func mentionsAreWholeWords() {
        #expect(Mentions.ranges(of: "alice", in: "@alice hi").count == 1)
        #expect(Mentions.ranges(of: "alice", in: "hi @Alice, and @alice.").count == 2)
        #expect(Mentions.ranges(of: "alice", in: "@alicex @@alice bob@alice").isEmpty)
    }
}
