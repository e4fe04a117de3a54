import Foundation
import ParlaClient

/// Draws the state into a screen buffer. Pure: same state, size and theme, same screen.
public struct Renderer: Sendable {
    public static let minimumWidth = 30
    public static let minimumHeight = 8
    /// Below this width one pane is shown at a time.
    public static let splitWidth = 60

    public var widths: DisplayWidth
    public var timeZone: TimeZone

    public init(widths: DisplayWidth = DisplayWidth(), timeZone: TimeZone = .current) {
        self.widths = widths
        self.timeZone = timeZone
    }

    public func render(_ state: AppState, width: Int, height: Int, theme: Theme) -> ScreenBuffer {
        var screen = ScreenBuffer(width: width, height: height, widths: widths)
        let layout = TextLayout(widths: widths)
        guard width >= Self.minimumWidth, height >= Self.minimumHeight else {
            let lines = layout.wrap("terminal too small (\(width)x\(height)); need \(Self.minimumWidth)x\(Self.minimumHeight)", width: max(1, width))
            for (index, line) in lines.prefix(height).enumerated() {
                screen.put(line, x: 0, y: max(0, (height - lines.count) / 2) + index, role: .notice)
            }
            return screen
        }
        let glyphs = Glyphs(ascii: theme.ascii)
        let inputLines = inputLayout(state, width: width, layout: layout, ascii: theme.ascii)
        let inputHeight = min(3, inputLines.count)
        let paneHeight = height - inputHeight - 1

        if width >= Self.splitWidth {
            let listWidth = min(24, width / 4 + 2)
            drawChatList(state, into: &screen, x: 0, width: listWidth, height: paneHeight, glyphs: glyphs, layout: layout)
            drawConversation(state, into: &screen, x: listWidth, width: width - listWidth, height: paneHeight, theme: theme, layout: layout)
        } else if state.focus == .chatList || state.selectedChat == nil {
            drawChatList(state, into: &screen, x: 0, width: width, height: paneHeight, glyphs: glyphs, layout: layout)
        } else {
            drawConversation(state, into: &screen, x: 0, width: width, height: paneHeight, theme: theme, layout: layout)
        }
        drawInput(state, lines: inputLines, into: &screen, y: paneHeight, height: inputHeight, glyphs: glyphs, layout: layout)
        drawStatus(state, into: &screen, y: height - 1, glyphs: glyphs, layout: layout)
        switch state.overlay {
        case .help: drawHelp(state, into: &screen, glyphs: glyphs, layout: layout)
        case .search: drawSearch(state, into: &screen, glyphs: glyphs, layout: layout)
        case .none: break
        }
        return screen
    }

    /// Where the terminal cursor goes: after the text before the editor's cursor.
    public func inputCursor(_ state: AppState, width: Int, height: Int) -> (x: Int, y: Int)? {
        guard width >= Self.minimumWidth, height >= Self.minimumHeight, state.overlay == .none else { return nil }
        let layout = TextLayout(widths: widths)
        let all = inputLayout(state, width: width, layout: layout, ascii: false)
        let inputHeight = min(3, all.count)
        let before = layout.wrap(String(state.editor.characters[..<state.editor.cursor]), width: max(1, width - 2))
        let row = min(inputHeight - 1, max(0, before.count - 1 - (all.count - inputHeight)))
        let column = min(width - 1, 2 + layout.widths.width(of: before.last ?? ""))
        return (column, height - 1 - inputHeight + row)
    }

    // MARK: Panes

    private func drawBox(_ title: String, into screen: inout ScreenBuffer, x: Int, width: Int, height: Int, glyphs: Glyphs, layout: TextLayout) {
        let inner = width - 2
        screen.put(glyphs.topLeft + glyphs.horizontal, x: x, y: 0, role: .border)
        let shownTitle = layout.truncate(" \(title) ", width: max(0, inner - 1))
        let titleWidth = screen.put(shownTitle, x: x + 2, y: 0, role: .title)
        screen.put(String(repeating: glyphs.horizontal, count: max(0, inner - 1 - titleWidth)) + glyphs.topRight, x: x + 2 + titleWidth, y: 0, role: .border)
        for row in 1..<(height - 1) {
            screen.put(glyphs.vertical, x: x, y: row, role: .border)
            screen.put(glyphs.vertical, x: x + width - 1, y: row, role: .border)
        }
        screen.put(glyphs.bottomLeft + String(repeating: glyphs.horizontal, count: inner) + glyphs.bottomRight, x: x, y: height - 1, role: .border)
    }

    private func drawChatList(_ state: AppState, into screen: inout ScreenBuffer, x: Int, width: Int, height: Int, glyphs: Glyphs, layout: TextLayout) {
        drawBox("Chats", into: &screen, x: x, width: width, height: height, glyphs: glyphs, layout: layout)
        let inner = width - 2
        for (row, chat) in state.chats.prefix(height - 2).enumerated() {
            let selected = chat.name == state.selectedChat
            let role: StyleRole = selected ? .chatSelected : chat.unread > 0 ? .chatUnread : .chatNormal
            var badge = ""
            if state.typing.contains(chat.name) { badge = glyphs.typing }
            if chat.unread > 0 { badge += (badge.isEmpty ? "" : " ") + String(chat.unread) }
            let marker = selected ? "> " : "  "
            var online = state.online.contains(chat.name) ? " " + glyphs.online : ""
            if let group = ClientStore.groupName(ofChat: chat.name).flatMap({ state.groups[$0] }) {
                online = group.isMember ? " (\(group.members.count))" : " (left)"
            }
            // Last activity, when the list is wide enough to keep names readable.
            if inner >= 18 { badge = activityLabel(chat.lastActivity, now: state.now) + (badge.isEmpty ? "" : " " + badge) }
            let nameWidth = inner - layout.widths.width(of: badge) - 1
            let name = layout.fit(marker + chat.name + online, width: max(0, nameWidth))
            let used = screen.put(name + " " + badge, x: x + 1, y: row + 1, role: role, maxWidth: inner)
            if selected { screen.fill(x: x + 1 + used, y: row + 1, width: inner - used, height: 1, role: role) }
            screen.put(glyphs.vertical, x: x + width - 1, y: row + 1, role: .border)
        }
        if state.chats.isEmpty {
            screen.put(layout.truncate("no chats: /new NAME", width: inner), x: x + 1, y: 1, role: .separator)
        }
    }

    /// "14:05" today, "Mon" within the week, "12 Nov" before that.
    private func activityLabel(_ date: Date, now: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let format = DateFormatter()
        format.timeZone = timeZone
        format.locale = Locale(identifier: "en_US_POSIX")
        if calendar.isDate(date, inSameDayAs: now) {
            format.dateFormat = "HH:mm"
        } else if now.timeIntervalSince(date) < 6 * 86_400, date < now {
            format.dateFormat = "EEE"
        } else {
            format.dateFormat = "d MMM"
        }
        return format.string(from: date)
    }

    private func drawConversation(_ state: AppState, into screen: inout ScreenBuffer, x: Int, width: Int, height: Int, theme: Theme, layout: TextLayout) {
        let glyphs = Glyphs(ascii: theme.ascii)
        var title = state.selectedChat ?? "Parla"
        if let group = state.selectedGroup {
            title += " “\(group.title)” · \(group.members.count) members" + (group.isMember ? "" : " · you left")
        } else if let chat = state.selectedChat {
            if state.verified.contains(chat) { title += " · verified" }
            if state.typing.contains(chat) { title += " " + glyphs.typing + " typing" } else if state.online.contains(chat) { title += " " + glyphs.online + " online" }
        }
        drawBox(title, into: &screen, x: x, width: width, height: height, glyphs: glyphs, layout: layout)
        let inner = width - 2
        let rows = height - 2
        let (lines, selected) = conversationLines(state, width: inner, theme: theme, layout: layout)
        let maxScroll = max(0, lines.count - rows)
        var scroll = min(state.scrollBack, maxScroll)
        if let selected {
            // The selected message stays on screen (its first line, if it is taller than the pane).
            scroll = max(min(scroll, lines.count - selected.upperBound), lines.count - rows - selected.lowerBound)
            scroll = min(max(0, scroll), maxScroll)
        }
        let visible = lines.dropLast(scroll).suffix(rows)
        // Newest at the bottom, next to the input, as chat apps do.
        let top = rows - visible.count
        for (index, line) in visible.enumerated() {
            let row = top + index
            var column = x + 1
            for span in line {
                column += screen.put(span.text, x: column, y: row + 1, role: span.role, maxWidth: x + 1 + inner - column)
            }
        }
        if scroll > 0 {
            screen.put(" \(glyphs.up) \(scroll) ", x: x + width - 8, y: height - 1, role: .notice)
        } else if state.hasNewer {
            let hint = " newer below: PgDn "
            screen.put(hint, x: x + max(1, width - 1 - layout.widths.width(of: hint)), y: height - 1, role: .notice, maxWidth: inner)
        }
    }

    struct Span {
        var text: String
        var role: StyleRole
    }

    /// The conversation's lines, and which of them show the highlighted message.
    private func conversationLines(_ state: AppState, width: Int, theme: Theme, layout: TextLayout) -> ([[Span]], Range<Int>?) {
        let glyphs = Glyphs(ascii: theme.ascii)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let timeFormat = DateFormatter()
        timeFormat.timeZone = timeZone
        timeFormat.dateFormat = "HH:mm"
        let dayFormat = DateFormatter()
        dayFormat.timeZone = timeZone
        dayFormat.locale = Locale(identifier: "en_US_POSIX")
        dayFormat.dateFormat = "EEE d MMM yyyy"

        let names = state.conversation.map { $0.from == state.me ? "you" : $0.from }
        let nameWidth = min(12, names.map { layout.widths.width(of: $0) }.max() ?? 3)
        let prefixWidth = 6 + nameWidth + 1
        let tickWidth = 3
        let textWidth = max(4, width - prefixWidth - tickWidth)
        var lines: [[Span]] = []
        var selected: Range<Int>?
        var lastDay: DateComponents?
        let firstUnread = state.unreadFrom
        for message in state.conversation {
            if message.localID == firstUnread {
                lines.append([Span(text: rule(" \(state.unreadMarker) unread ", width: width, glyphs: glyphs, layout: layout), role: .unreadSeparator)])
            }
            let day = calendar.dateComponents([.year, .month, .day], from: message.sentAt)
            if day != lastDay {
                lastDay = day
                lines.append([Span(text: rule(" \(dayFormat.string(from: message.sentAt)) ", width: width, glyphs: glyphs, layout: layout), role: .separator)])
            }
            let own = message.from == state.me
            let firstLine = lines.count
            let name = layout.fit(own ? "you" : message.from, width: nameWidth)
            let wrapped = layout.wrap(glyphs.text(message.text), width: textWidth)
            for (index, text) in wrapped.enumerated() {
                var spans: [Span] = []
                if index == 0 {
                    spans.append(Span(text: timeFormat.string(from: message.sentAt) + " ", role: .time))
                    spans.append(Span(text: name + " ", role: own ? .senderName : theme.senderRole(for: message.from)))
                } else {
                    spans.append(Span(text: String(repeating: " ", count: prefixWidth), role: .normal))
                }
                let textRole: StyleRole = message.localID == state.highlighted ? .highlight
                    : message.from == ClientStore.systemSender ? .notice : own ? .ownMessage : .otherMessage
                let fitted = layout.fit(text, width: textWidth)
                // @me stands out (and rang the bell when it arrived).
                var rest = fitted[...]
                for range in own ? [] : Mentions.ranges(of: state.me, in: fitted) {
                    spans.append(Span(text: String(rest[rest.startIndex..<range.lowerBound]), role: textRole))
                    spans.append(Span(text: String(fitted[range]), role: .highlight))
                    rest = fitted[range.upperBound...]
                }
                spans.append(Span(text: String(rest), role: textRole))
                if own, index == wrapped.count - 1 {
                    let (tick, role) = glyphs.tick(message.status)
                    spans.append(Span(text: " " + tick, role: role))
                }
                lines.append(spans)
            }
            if own, message.status == .failed, let reason = message.failureReason {
                for text in layout.wrap("failed: \(reason) (/retry or /delete)", width: textWidth) {
                    lines.append([Span(text: String(repeating: " ", count: prefixWidth), role: .normal), Span(text: text, role: .tickFailed)])
                }
            }
            if message.localID == state.highlighted { selected = firstLine..<lines.count }
        }
        return (lines, selected)
    }

    /// A horizontal line across `width` with `label` in the middle.
    private func rule(_ label: String, width: Int, glyphs: Glyphs, layout: TextLayout) -> String {
        let labelWidth = layout.widths.width(of: label)
        let side = max(0, (width - labelWidth) / 2)
        return String(repeating: glyphs.horizontal, count: side) + label + String(repeating: glyphs.horizontal, count: max(0, width - side - labelWidth))
    }

    private func inputLayout(_ state: AppState, width: Int, layout: TextLayout, ascii: Bool) -> [String] {
        let lines = layout.wrap(Glyphs(ascii: ascii).text(state.editor.text), width: max(1, width - 2))
        return lines.isEmpty ? [""] : lines
    }

    private func drawInput(_ state: AppState, lines: [String], into screen: inout ScreenBuffer, y: Int, height: Int, glyphs: Glyphs, layout: TextLayout) {
        let shown = lines.suffix(height)
        for (row, line) in shown.enumerated() {
            screen.put(row == 0 && lines.count <= height ? "> " : "  ", x: 0, y: y + row, role: .input)
            screen.put(line, x: 2, y: y + row, role: .input)
        }
        if state.editor.isEmpty {
            let hint = state.selectedChat.map { "message \($0)" } ?? "/new NAME to start a chat"
            screen.put(layout.truncate(hint, width: screen.width - 2), x: 2, y: y, role: .separator)
        }
        // Who is typing in this chat, at the right end of the input's last row.
        if let chat = state.selectedChat, state.typing.contains(chat) {
            let label = " " + glyphs.typing + " \(chat) is typing "
            let labelWidth = layout.widths.width(of: label)
            let row = y + height - 1
            let used = 2 + layout.widths.width(of: lines.last ?? "")
            if screen.width - labelWidth > used + 1 {
                screen.put(label, x: screen.width - labelWidth, y: row, role: .separator)
            }
        }
    }

    private func drawStatus(_ state: AppState, into screen: inout ScreenBuffer, y: Int, glyphs: Glyphs, layout: TextLayout) {
        var parts: [String] = []
        switch state.connection {
        case .online: parts.append("\(glyphs.online) online")
        case .connecting: parts.append("\(glyphs.pending) connecting")
        case .authenticating: parts.append("\(glyphs.pending) logging in")
        case .offline: parts.append("\(glyphs.offline) offline")
        case .waitingToRetry(let retryAt, _):
            let seconds = max(0, Int(retryAt.timeIntervalSince(state.now).rounded(.up)))
            parts.append("\(glyphs.offline) offline, retry in \(seconds)s (Ctrl-R now)")
        }
        parts.append("\(state.queuedCount) queued")
        if state.totalUnread > 0 { parts.append("\(state.totalUnread) unread") }
        var left = " " + parts.joined(separator: " · ")
        // A notice goes first so a long one (a config error naming its file) is not cut off.
        if state.confirmingQuit { left = " quit Parla? y/n" } else if let notice = state.notice { left = " " + notice + " · " + parts.joined(separator: " · ") }
        let right = "? help "
        screen.fill(x: 0, y: y, width: screen.width, height: 1, role: .statusLine)
        let leftWidth = screen.width - layout.widths.width(of: right)
        screen.put(layout.truncate(left, width: leftWidth), x: 0, y: y, role: state.notice != nil || state.confirmingQuit ? .notice : .statusLine)
        screen.put(right, x: leftWidth, y: y, role: .statusLine)
    }

    private func drawHelp(_ state: AppState, into screen: inout ScreenBuffer, glyphs: Glyphs, layout: TextLayout) {
        let width = min(screen.width - 2, 72)
        let lines = state.bindings.helpLines.flatMap { layout.wrap($0, width: width - 4) }
        drawPanel(" Keys (any key closes) ", lines: lines.map { ($0, StyleRole.help) }, width: width, into: &screen, glyphs: glyphs, layout: layout)
    }

    /// The `/search` results: one line each (chat, date, text), the selected one highlighted.
    private func drawSearch(_ state: AppState, into screen: inout ScreenBuffer, glyphs: Glyphs, layout: TextLayout) {
        let width = min(screen.width - 2, 100)
        let rows = max(1, min(state.searchResults.count, screen.height - 4))
        // Keep the selection in view.
        let first = max(0, min(state.searchSelection - rows / 2, state.searchResults.count - rows))
        let dateFormat = DateFormatter()
        dateFormat.timeZone = timeZone
        dateFormat.locale = Locale(identifier: "en_US_POSIX")
        dateFormat.dateFormat = "yyyy-MM-dd HH:mm"
        let lines = state.searchResults.dropFirst(first).prefix(rows).enumerated().map { offset, message -> (String, StyleRole) in
            let who = message.from == state.me ? "you" : message.from
            let text = glyphs.text(message.text).replacingOccurrences(of: "\n", with: " ")
            let line = layout.fit(message.chat, width: 12) + " " + dateFormat.string(from: message.sentAt) + " " + who + ": " + text
            return (line, first + offset == state.searchSelection ? .chatSelected : .help)
        }
        let title = " \(state.searchResults.count) found for '\(state.searchQuery)' · Enter opens · Esc closes "
        drawPanel(title, lines: lines, width: width, into: &screen, glyphs: glyphs, layout: layout)
    }

    /// A centred box over everything else.
    private func drawPanel(_ title: String, lines: [(String, StyleRole)], width: Int, into screen: inout ScreenBuffer, glyphs: Glyphs, layout: TextLayout) {
        let height = min(screen.height - 2, lines.count + 2)
        let x = (screen.width - width) / 2
        let y = (screen.height - height) / 2
        screen.fill(x: x, y: y, width: width, height: height, role: .help)
        let shownTitle = layout.truncate(title, width: width - 4)
        screen.put(glyphs.topLeft + glyphs.horizontal, x: x, y: y, role: .help)
        let titleWidth = screen.put(shownTitle, x: x + 2, y: y, role: .help)
        screen.put(String(repeating: glyphs.horizontal, count: max(0, width - 3 - titleWidth)) + glyphs.topRight, x: x + 2 + titleWidth, y: y, role: .help)
        for (index, (line, role)) in lines.prefix(height - 2).enumerated() {
            screen.put(glyphs.vertical + " ", x: x, y: y + 1 + index, role: .help)
            screen.put(layout.fit(line, width: width - 4), x: x + 2, y: y + 1 + index, role: role)
            screen.put(" " + glyphs.vertical, x: x + width - 2, y: y + 1 + index, role: .help)
        }
        screen.put(glyphs.bottomLeft + String(repeating: glyphs.horizontal, count: width - 2) + glyphs.bottomRight, x: x, y: y + height - 1, role: .help)
    }
}

/// Box-drawing and status symbols, with ASCII substitutes.
struct Glyphs {
    let ascii: Bool
    var topLeft: String { ascii ? "+" : "┌" }
    var topRight: String { ascii ? "+" : "┐" }
    var bottomLeft: String { ascii ? "+" : "└" }
    var bottomRight: String { ascii ? "+" : "┘" }
    var horizontal: String { ascii ? "-" : "─" }
    var vertical: String { ascii ? "|" : "│" }
    var online: String { ascii ? "*" : "●" }
    var offline: String { ascii ? "o" : "○" }
    var pending: String { ascii ? "~" : "…" }
    var typing: String { ascii ? "..." : "✎" }
    var up: String { ascii ? "^" : "↑" }

    /// User text as this terminal can show it: unchanged in UTF-8; otherwise accents
    /// dropped and anything else non-ASCII shown as "?", one per character.
    func text(_ text: String) -> String {
        guard ascii else { return text }
        return String(text.map { character -> Character in
            if character.isASCII { return character }
            let folded = String(character).folding(options: [.diacriticInsensitive, .widthInsensitive], locale: nil)
            return folded.count == 1 && folded.first!.isASCII ? folded.first! : "?"
        })
    }

    func tick(_ status: MessageStatus) -> (String, StyleRole) {
        switch status {
        case .queued: (ascii ? "q " : "◷ ", .tickQueued)
        case .sent: (ascii ? "v " : "✓ ", .tickSent)
        case .delivered: (ascii ? "vv" : "✓✓", .tickDelivered)
        case .read: (ascii ? "VV" : "✓✓", .tickRead)
        case .failed: (ascii ? "! " : "✗ ", .tickFailed)
        case .received: ("  ", .normal)
        }
    }
}
