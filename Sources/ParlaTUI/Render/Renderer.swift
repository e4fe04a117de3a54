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
    /// How message times are written (a `DateFormatter` pattern; `time_format` in config.toml).
    public var timeFormat: String
    /// Mark URLs as OSC 8 hyperlinks (`hyperlinks` in config.toml).
    public var hyperlinks: Bool

    /// Which pictures the terminal can show inside the conversation (nil: none; they are
    /// then a 📎 line, and `/view` says why it cannot show them).
    public var inlinePictures: InlinePictureSupport?

    public init(widths: DisplayWidth = DisplayWidth(), timeZone: TimeZone = .current, timeFormat: String = "HH:mm", hyperlinks: Bool = true,
                inlinePictures: InlinePictureSupport? = nil) {
        self.widths = widths
        self.timeZone = timeZone
        self.timeFormat = timeFormat
        self.hyperlinks = hyperlinks
        self.inlinePictures = inlinePictures
    }

    public func render(_ state: AppState, width: Int, height: Int, theme: Theme) -> ScreenBuffer {
        frame(state, width: width, height: height, theme: theme).screen
    }

    /// The screen, and what was drawn of the conversation pane (the reducer pages and
    /// bounds scrolling by it).
    public func frame(_ state: AppState, width: Int, height: Int, theme: Theme) -> (screen: ScreenBuffer, viewport: Viewport) {
        var screen = ScreenBuffer(width: width, height: height, widths: widths)
        let layout = TextLayout(widths: widths)
        guard width >= Self.minimumWidth, height >= Self.minimumHeight else {
            let lines = layout.wrap("terminal too small (\(width)x\(height)); need \(Self.minimumWidth)x\(Self.minimumHeight)", width: max(1, width))
            for (index, line) in lines.prefix(height).enumerated() {
                screen.put(line, x: 0, y: max(0, (height - lines.count) / 2) + index, role: .notice)
            }
            return (screen, state.viewport)
        }
        let glyphs = Glyphs(ascii: theme.ascii)
        let inputLines = inputLayout(state, width: width, layout: layout, ascii: theme.ascii)
        let inputHeight = min(Self.inputRows(height: height), inputLines.count)
        let paneHeight = height - inputHeight - 1

        var viewport = state.viewport
        if width >= Self.splitWidth {
            let listWidth = min(24, width / 4 + 2)
            drawChatList(state, into: &screen, x: 0, width: listWidth, height: paneHeight, glyphs: glyphs, layout: layout)
            viewport = drawConversation(state, into: &screen, x: listWidth, width: width - listWidth, height: paneHeight, theme: theme, layout: layout)
        } else if state.focus == .chatList || state.selectedChat == nil {
            drawChatList(state, into: &screen, x: 0, width: width, height: paneHeight, glyphs: glyphs, layout: layout)
        } else {
            viewport = drawConversation(state, into: &screen, x: 0, width: width, height: paneHeight, theme: theme, layout: layout)
        }
        drawInput(state, lines: inputLines, into: &screen, y: paneHeight, height: inputHeight, glyphs: glyphs, layout: layout)
        drawStatus(state, into: &screen, y: height - 1, aboveFrom: paneHeight, glyphs: glyphs, layout: layout)
        switch state.overlay {
        case .help: drawHelp(state, into: &screen, glyphs: glyphs, layout: layout)
        case .search: drawSearch(state, into: &screen, glyphs: glyphs, layout: layout)
        case .preview:
            // An empty screen for the terminal to draw the picture on, and how to leave.
            screen.fill(x: 0, y: 0, width: width, height: height, role: .normal)
            screen.put(" " + glyphs.text(state.previewName ?? "") + " · any key returns ", x: 0, y: height - 1, role: .statusLine, maxWidth: width)
        case .none: break
        }
        return (screen, viewport)
    }

    /// The input grows with a multi-line draft up to a third of the screen (at least 3 rows).
    static func inputRows(height: Int) -> Int { max(3, height / 3) }

    /// Where the terminal cursor goes: after the text before the editor's cursor.
    public func inputCursor(_ state: AppState, width: Int, height: Int) -> (x: Int, y: Int)? {
        guard width >= Self.minimumWidth, height >= Self.minimumHeight, state.overlay == .none else { return nil }
        let layout = TextLayout(widths: widths)
        let all = inputLayout(state, width: width, layout: layout, ascii: false)
        let inputHeight = min(Self.inputRows(height: height), all.count)
        let (cursorRow, cursorColumn) = inputCursorPosition(state, width: width, layout: layout)
        let first = Self.firstInputRow(cursorRow: cursorRow, lines: all.count, rows: inputHeight)
        let column = min(width - 1, 2 + cursorColumn)
        return (column, height - 1 - inputHeight + (cursorRow - first))
    }

    /// The cursor's row in the wrapped draft and its column there.
    private func inputCursorPosition(_ state: AppState, width: Int, layout: TextLayout) -> (row: Int, column: Int) {
        let before = layout.wrap(String(state.editor.characters[..<state.editor.cursor]), width: max(1, width - 2))
        return (max(0, before.count - 1), layout.widths.width(of: before.last ?? ""))
    }

    /// The first wrapped line of the draft that is shown: the newest lines, unless the
    /// cursor is further up (then the view follows it).
    static func firstInputRow(cursorRow: Int, lines: Int, rows: Int) -> Int {
        min(max(0, lines - rows), max(0, cursorRow - rows + 1))
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
        let rows = max(0, height - 2)
        // The selected chat is always in view: the list scrolls to it.
        let selectedIndex = state.chats.firstIndex { $0.name == state.selectedChat } ?? 0
        let first = max(0, min(selectedIndex - rows + 1, state.chats.count - rows))
        for (row, chat) in state.chats.dropFirst(first).prefix(rows).enumerated() {
            let selected = chat.name == state.selectedChat
            let role: StyleRole = selected ? .chatSelected : chat.unread > 0 && !chat.muted && chat.invitedBy == nil ? .chatUnread : .chatNormal
            var badge = ""
            if state.isTyping(chat.name) { badge = glyphs.typing }
            if chat.unread > 0 { badge += (badge.isEmpty ? "" : " ") + String(chat.unread) }
            if chat.muted { badge += (badge.isEmpty ? "" : " ") + glyphs.muted }
            if chat.invitedBy != nil { badge += (badge.isEmpty ? "" : " ") + glyphs.invitation }
            if chat.pinned { badge += (badge.isEmpty ? "" : " ") + glyphs.pinned }
            let marker = selected ? "> " : "  "
            var online = state.connection == .online && state.online.contains(chat.name) ? " " + glyphs.online : ""
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
        if first > 0 { screen.put(" \(glyphs.up)\(first) ", x: x + width - 6, y: 0, role: .notice) }
        let below = state.chats.count - first - rows
        if below > 0 { screen.put(" \(glyphs.down)\(below) ", x: x + width - 6, y: height - 1, role: .notice) }
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

    private func drawConversation(_ state: AppState, into screen: inout ScreenBuffer, x: Int, width: Int, height: Int, theme: Theme, layout: TextLayout) -> Viewport {
        let glyphs = Glyphs(ascii: theme.ascii)
        var title = state.selectedChat ?? "Parla"
        if let group = state.selectedGroup {
            title += " “\(group.title)” · \(group.members.count) members" + (group.isMember ? "" : " · you left")
        } else if let chat = state.selectedChat {
            if state.verified.contains(chat) { title += " · verified" }
            if state.isTyping(chat) {
                title += " " + glyphs.typing + " typing"
            } else if state.connection == .online, state.online.contains(chat) {
                title += " " + glyphs.online + " online"
            }
        }
        if let chat = state.selectedChat, let timer = state.chats.first(where: { $0.name == chat })?.timer {
            title += " · " + glyphs.timer + DisappearingTimer.abbreviate(timer)
        }
        if let chat = state.selectedChat, let inviter = state.invitation(chat) {
            title += " · invited by \(inviter): /accept /decline"
        } else if let chat = state.selectedChat, state.isMuted(chat) { title += " · muted" }
        drawBox(title, into: &screen, x: x, width: width, height: height, glyphs: glyphs, layout: layout)
        let inner = width - 2
        let rows = height - 2
        let (lines, selected, belowAnchor) = conversationLines(state, width: inner, rows: rows, theme: theme, layout: layout)
        let maxScroll = max(0, lines.count - rows)
        // Messages that arrived while scrolled up are below what stays on screen.
        var scroll = min(state.scrollBack + belowAnchor, maxScroll)
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
                // A picture is drawn only whole: its box starts here and fits below.
                if let picture = span.picture, index + picture.rows <= visible.count {
                    screen.picture(x: column, y: row + 1, columns: picture.columns, rows: picture.rows, path: picture.path)
                }
                let used = screen.put(span.text, x: column, y: row + 1, role: span.role, maxWidth: x + 1 + inner - column)
                if let link = span.link, hyperlinks { screen.link(x: column, y: row + 1, width: used, url: link) }
                column += used
            }
        }
        if state.newBelow > 0, scroll > 0 {
            let hint = " \(state.newBelow) new message\(state.newBelow == 1 ? "" : "s") \(glyphs.down) End "
            screen.put(hint, x: x + max(1, width - 1 - layout.widths.width(of: hint)), y: height - 1, role: .unreadSeparator, maxWidth: inner)
        } else if scroll > 0 {
            screen.put(" \(glyphs.up) \(scroll) ", x: x + width - 8, y: height - 1, role: .notice)
        } else if state.hasNewer {
            let hint = " newer below: PgDn "
            screen.put(hint, x: x + max(1, width - 1 - layout.widths.width(of: hint)), y: height - 1, role: .notice, maxWidth: inner)
        }
        return Viewport(rows: rows, scroll: scroll, maxScroll: maxScroll)
    }

    struct Span {
        var text: String
        var role: StyleRole
        /// The URL this text belongs to (all of it, also on a wrapped line's second part).
        var link: String?
        /// The picture whose box starts here (its position is where the span is drawn).
        var picture: PicturePlacement?
    }

    /// The conversation's lines, which of them show the highlighted message, and how many
    /// lines came after the scroll anchor (messages that arrived while scrolled up).
    private func conversationLines(_ state: AppState, width: Int, rows: Int, theme: Theme, layout: TextLayout) -> ([[Span]], Range<Int>?, Int) {
        let glyphs = Glyphs(ascii: theme.ascii)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let timeFormatter = DateFormatter()
        timeFormatter.timeZone = timeZone
        timeFormatter.locale = Locale(identifier: "en_US_POSIX")
        timeFormatter.dateFormat = timeFormat
        let dayFormat = DateFormatter()
        dayFormat.timeZone = timeZone
        dayFormat.locale = Locale(identifier: "en_US_POSIX")
        dayFormat.dateFormat = "EEE d MMM yyyy"
        let timeWidth = layout.widths.width(of: timeFormatter.string(from: Date(timeIntervalSince1970: 1_700_000_000)))

        let names = state.conversation.map { $0.from == state.me ? "you" : $0.from }
        let nameWidth = min(12, names.map { layout.widths.width(of: $0) }.max() ?? 3)
        let prefixWidth = timeWidth + 1 + nameWidth + 1
        let tickWidth = 3
        let textWidth = max(4, width - prefixWidth - tickWidth)
        var lines: [[Span]] = []
        var selected: Range<Int>?
        var anchorEnd: Int?
        var lastDay: DateComponents?
        let firstUnread = state.unreadFrom
        for message in state.conversation {
            if message.localID == firstUnread, state.unreadMarker > 0 {
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
            var shownText = message.deleted != nil ? glyphs.deleted : glyphs.text(message.text) + (message.editedAt != nil ? " (edited)" : "")
            if message.deleted == nil, let file = message.attachment {
                let label = Self.attachmentLabel(file, progress: state.transfers[message.id], own: own, glyphs: glyphs)
                if let label { shownText = message.text.isEmpty ? label : label + "\n" + shownText }
            }
            let wrapped = layout.wrap(shownText, width: textWidth)
            var links = LinkTracker(urls: Links.urls(in: shownText))
            // A reply starts with a line quoting what it answers (when that is loaded).
            let quote = message.replyTo.map { id -> String in
                guard let target = state.conversation.first(where: { $0.id == id && $0.chat == message.chat }) else { return glyphs.reply + "an earlier message" }
                let firstLine = target.deleted != nil ? glyphs.deleted
                    : glyphs.text(target.text).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
                return glyphs.reply + (target.from == state.me ? "you" : target.from) + ": " + firstLine
            }
            if let quote {
                lines.append([
                    Span(text: layout.fit(timeFormatter.string(from: message.sentAt), width: timeWidth) + " ", role: .time),
                    Span(text: name + " ", role: own ? .senderName : theme.senderRole(for: message.from)),
                    Span(text: layout.fit(quote, width: textWidth), role: .notice),
                ])
            }
            for (index, text) in wrapped.enumerated() {
                var spans: [Span] = []
                if index == 0, quote == nil {
                    spans.append(Span(text: layout.fit(timeFormatter.string(from: message.sentAt), width: timeWidth) + " ", role: .time))
                    spans.append(Span(text: name + " ", role: own ? .senderName : theme.senderRole(for: message.from)))
                } else {
                    spans.append(Span(text: String(repeating: " ", count: prefixWidth), role: .normal))
                }
                let textRole: StyleRole = message.localID == state.highlighted ? .highlight
                    : message.from == ClientStore.systemSender || message.deleted != nil ? .notice : own ? .ownMessage : .otherMessage
                let fitted = layout.fit(text, width: textWidth)
                // @me stands out (and rang the bell when it arrived); URLs are links.
                var marks = links.ranges(in: fitted).map { ($0.range, StyleRole?.none, Optional($0.url)) }
                if !own { marks += Mentions.ranges(of: state.me, in: fitted).map { ($0, StyleRole?.some(.highlight), String?.none) } }
                marks.sort { $0.0.lowerBound < $1.0.lowerBound }
                var rest = fitted[...]
                for (range, role, url) in marks where range.lowerBound >= rest.startIndex {
                    spans.append(Span(text: String(rest[rest.startIndex..<range.lowerBound]), role: textRole))
                    spans.append(Span(text: String(fitted[range]), role: role ?? textRole, link: url))
                    rest = fitted[range.upperBound...]
                }
                spans.append(Span(text: String(rest), role: textRole))
                if own, index == wrapped.count - 1 {
                    let (tick, role) = glyphs.tick(message.status)
                    spans.append(Span(text: " " + tick, role: role))
                }
                lines.append(spans)
            }
            if let path = inlinePicturePath(message, own: own), !state.undrawablePictures.contains(path) {
                // A third of the pane at most, about as wide as a photo is.
                let box = (rows: min(8, max(2, rows / 3)), columns: 0)
                let columns = min(textWidth, box.rows * 4)
                let blank = Span(text: String(repeating: " ", count: prefixWidth), role: .normal)
                var placeholder = Span(text: layout.fit(glyphs.picture, width: columns), role: .notice)
                placeholder.picture = PicturePlacement(x: 0, y: 0, columns: columns, rows: box.rows, path: path)
                lines.append([blank, placeholder])
                for _ in 1..<box.rows { lines.append([blank]) }
            }
            if own, message.status == .failed, let reason = message.failureReason {
                for text in layout.wrap("failed: \(reason) (/retry or /delete)", width: textWidth) {
                    lines.append([Span(text: String(repeating: " ", count: prefixWidth), role: .normal), Span(text: text, role: .tickFailed)])
                }
            }
            if let reactions = state.reactions[message.id], !reactions.isEmpty, message.deleted == nil {
                let shown = Self.reactionSummary(reactions, me: state.me, glyphs: glyphs)
                lines.append([Span(text: String(repeating: " ", count: prefixWidth), role: .normal), Span(text: layout.fit(shown, width: textWidth), role: .notice)])
            }
            if message.localID == state.highlighted { selected = firstLine..<lines.count }
            if message.localID == state.scrollAnchor { anchorEnd = lines.count }
        }
        return (lines, selected, anchorEnd.map { lines.count - $0 } ?? 0)
    }

    /// The file to draw inside the conversation: a picture this terminal shows, on this computer.
    private func inlinePicturePath(_ message: MessageRecord, own: Bool) -> String? {
        guard let support = inlinePictures, message.deleted == nil, let file = message.attachment, !file.longText,
              file.size <= support.maxBytes, support.extensions.contains((file.name as NSString).pathExtension.lowercased()),
              own || file.state == .downloaded else { return nil }
        return file.localPath
    }

    /// "📎 report.pdf · 2.4 MiB · ⇡ 45%": the file, its size, and where it stands (nil for a
    /// long text that has arrived, which is shown as the text alone).
    static func attachmentLabel(_ file: Attachment, progress: TransferProgress?, own: Bool, glyphs: Glyphs) -> String? {
        let state: String
        if let progress, progress.total > 0 {
            state = (progress.upload ? glyphs.up : glyphs.down) + " \(progress.bytes * 100 / progress.total)%"
        } else {
            switch file.state {
            case .uploading: state = glyphs.up + " waiting to upload"
            case .uploaded: state = ""
            case .pending: state = glyphs.down + " downloading"
            case .downloaded: state = own || file.longText ? "" : "/save keeps a copy"
            case .failed: state = glyphs.failed + " " + glyphs.text(file.failure ?? "failed")
            }
        }
        if file.longText {
            guard !state.isEmpty else { return nil }
            return "(long message: " + state + ")"
        }
        let size = ByteSize.describe(file.size)
        return glyphs.paperclip + glyphs.text(file.name) + " · " + size + (state.isEmpty ? "" : " · " + state)
    }

    /// "👍 3  ❤️ you": the most given first; one reactor is named, more are counted.
    static func reactionSummary(_ reactions: [String: [String]], me: String, glyphs: Glyphs) -> String {
        reactions.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }.map { emoji, who in
            glyphs.text(emoji) + " " + (who.count == 1 ? (who[0] == me ? "you" : glyphs.text(who[0])) : "\(who.count)")
        }.joined(separator: "  ")
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
        let cursorRow = inputCursorPosition(state, width: screen.width, layout: layout).row
        let first = Self.firstInputRow(cursorRow: cursorRow, lines: lines.count, rows: height)
        for (row, line) in lines.dropFirst(first).prefix(height).enumerated() {
            let prompt = first + row == 0 ? "> " : row == 0 ? glyphs.up + " " : "  "
            screen.put(prompt, x: 0, y: y + row, role: .input)
            screen.put(line, x: 2, y: y + row, role: .input)
        }
        if state.editor.isEmpty {
            let hint = state.selectedChat.map { "message \($0)" } ?? "/new NAME to start a chat"
            screen.put(layout.truncate(hint, width: screen.width - 2), x: 2, y: y, role: .separator)
        }
        // Who is typing in this chat, at the right end of the input's last row.
        if let chat = state.selectedChat, state.isTyping(chat) {
            let label = " " + glyphs.typing + " \(chat) is typing "
            let labelWidth = layout.widths.width(of: label)
            let row = y + height - 1
            let used = 2 + layout.widths.width(of: lines.dropFirst(first).prefix(height).last ?? "")
            if screen.width - labelWidth > used + 1 {
                screen.put(label, x: screen.width - labelWidth, y: row, role: .separator)
            }
        }
    }

    /// The status line: who you are, the connection, the outbox and unread counts. A notice
    /// that does not fit beside them is wrapped over the rows above (from `aboveFrom` up).
    private func drawStatus(_ state: AppState, into screen: inout ScreenBuffer, y: Int, aboveFrom: Int, glyphs: Glyphs, layout: TextLayout) {
        var parts: [String] = [state.me]
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
        // Why the last attempt failed, last: a refusal (a changed relay identity, a wrong clock) must be seen.
        if case .waitingToRetry(_, let reason) = state.connection { parts.append(reason) }
        let right = "F1 help "
        let leftWidth = screen.width - layout.widths.width(of: right)
        let status = " " + parts.joined(separator: " · ")
        var left = status
        var role = StyleRole.statusLine
        if state.confirmingQuit {
            left = " quit Parla? y/n"
            role = .notice
        } else if let notice = state.notice {
            role = .notice
            let inline = " " + notice + " · " + parts.joined(separator: " · ")
            if layout.widths.width(of: inline) <= leftWidth {
                left = inline
            } else {
                // Too long for one row (a config error, a safety number): wrapped above, whole.
                let wrapped = layout.wrap(notice, width: max(1, screen.width - 2))
                let rows = min(wrapped.count, max(1, aboveFrom - 1))
                let top = y - rows
                screen.fill(x: 0, y: top, width: screen.width, height: rows, role: .notice)
                for (index, line) in wrapped.suffix(rows).enumerated() {
                    screen.put(line, x: 1, y: top + index, role: .notice)
                }
                role = .statusLine
            }
        }
        screen.fill(x: 0, y: y, width: screen.width, height: 1, role: .statusLine)
        screen.put(layout.truncate(left, width: leftWidth), x: 0, y: y, role: role)
        screen.put(right, x: leftWidth, y: y, role: .statusLine)
    }

    private func drawHelp(_ state: AppState, into screen: inout ScreenBuffer, glyphs: Glyphs, layout: TextLayout) {
        let width = min(screen.width - 2, 84)
        let lines = state.bindings.helpLines.flatMap { layout.wrap($0, width: width - 4) }
        let rows = max(1, min(lines.count, screen.height - 4))
        let first = min(state.helpScroll, max(0, lines.count - rows))
        let more = lines.count > rows ? " \(first + 1)-\(first + rows) of \(lines.count), Up/Down scroll," : ""
        drawPanel(" Keys and commands\(more) any other key closes ", lines: lines.dropFirst(first).prefix(rows).map { [Span(text: $0, role: .help)] },
                  width: width, into: &screen, glyphs: glyphs, layout: layout)
    }

    /// The `/search` results: one line each (chat, date, text), the selected one highlighted
    /// and the words searched for marked.
    private func drawSearch(_ state: AppState, into screen: inout ScreenBuffer, glyphs: Glyphs, layout: TextLayout) {
        let width = min(screen.width - 2, 100)
        let rows = max(1, min(state.searchResults.count, screen.height - 4))
        // Keep the selection in view.
        let first = max(0, min(state.searchSelection - rows / 2, state.searchResults.count - rows))
        let dateFormat = DateFormatter()
        dateFormat.timeZone = timeZone
        dateFormat.locale = Locale(identifier: "en_US_POSIX")
        dateFormat.dateFormat = "yyyy-MM-dd HH:mm"
        let terms = state.searchQuery.split(whereSeparator: \.isWhitespace).map(String.init)
        let lines = state.searchResults.dropFirst(first).prefix(rows).enumerated().map { offset, message -> [Span] in
            let who = message.from == state.me ? "you" : message.from
            let text = glyphs.text(message.text).replacingOccurrences(of: "\n", with: " ")
            let head = layout.fit(message.chat, width: 12) + " " + dateFormat.string(from: message.sentAt) + " " + who + ": "
            let role: StyleRole = first + offset == state.searchSelection ? .chatSelected : .help
            let body = layout.truncate(text, width: max(1, width - 4 - layout.widths.width(of: head)))
            var spans = [Span(text: head, role: role)]
            var rest = body[...]
            for range in SearchMatches.ranges(of: terms, in: body) where range.lowerBound >= rest.startIndex {
                spans.append(Span(text: String(rest[rest.startIndex..<range.lowerBound]), role: role))
                spans.append(Span(text: String(body[range]), role: .highlight))
                rest = body[range.upperBound...]
            }
            spans.append(Span(text: String(rest), role: role))
            return spans
        }
        let title = " \(state.searchResults.count) found for '\(state.searchQuery)' · Enter opens · Esc closes "
        drawPanel(title, lines: lines, width: width, into: &screen, glyphs: glyphs, layout: layout)
    }

    /// A centred box over everything else.
    private func drawPanel(_ title: String, lines: [[Span]], width: Int, into screen: inout ScreenBuffer, glyphs: Glyphs, layout: TextLayout) {
        let height = min(screen.height - 2, lines.count + 2)
        let x = (screen.width - width) / 2
        let y = (screen.height - height) / 2
        screen.fill(x: x, y: y, width: width, height: height, role: .help)
        let shownTitle = layout.truncate(title, width: width - 4)
        screen.put(glyphs.topLeft + glyphs.horizontal, x: x, y: y, role: .help)
        let titleWidth = screen.put(shownTitle, x: x + 2, y: y, role: .help)
        screen.put(String(repeating: glyphs.horizontal, count: max(0, width - 3 - titleWidth)) + glyphs.topRight, x: x + 2 + titleWidth, y: y, role: .help)
        for (index, spans) in lines.prefix(height - 2).enumerated() {
            screen.put(glyphs.vertical + " ", x: x, y: y + 1 + index, role: .help)
            var column = x + 2
            for span in spans {
                column += screen.put(span.text, x: column, y: y + 1 + index, role: span.role, maxWidth: x + width - 2 - column)
            }
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
    var down: String { ascii ? "v" : "↓" }
    var pinned: String { ascii ? "*" : "📌" }
    var muted: String { ascii ? "(m)" : "🔇" }
    var invitation: String { ascii ? "(inv)" : "✉" }
    var reply: String { ascii ? "> " : "↪ " }
    var timer: String { ascii ? "timer " : "⏱ " }
    var paperclip: String { ascii ? "[file] " : "📎 " }
    /// Under a picture's box: seen only where the picture could not be drawn.
    var picture: String { ascii ? "[picture]" : "📷 picture" }
    var failed: String { ascii ? "!" : "✗" }
    var deleted: String { ascii ? "(message deleted)" : "🚫 message deleted" }

    /// User text as this terminal can show it: control characters (which the terminal would
    /// act on) replaced, and without UTF-8, accents dropped and anything else non-ASCII shown
    /// as "?", one per character.
    func text(_ raw: String) -> String {
        let text = DisplayText.safe(raw)
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
