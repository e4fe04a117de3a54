/// Which key does what. Defaults follow readline/emacs and other chat clients;
/// `[keys]` in config.toml replaces the keys of any command.
public struct KeyBindings: Sendable, Equatable {
    /// Everything a key can be bound to, named as in config.toml.
    public enum Command: String, Sendable, CaseIterable {
        case send, newline, quit
        case askQuit = "ask_quit"
        case help
        case nextChat = "next_chat"
        case previousChat = "previous_chat"
        case nextUnread = "next_unread"
        case toggleFocus = "toggle_focus"
        case scrollUp = "scroll_up"
        case scrollDown = "scroll_down"
        case scrollTop = "scroll_top"
        case scrollBottom = "scroll_bottom"
        case redraw, reconnect
        case lineStart = "line_start"
        case lineEnd = "line_end"
        case charLeft = "char_left"
        case charRight = "char_right"
        case wordLeft = "word_left"
        case wordRight = "word_right"
        case killToEnd = "kill_to_end"
        case killToStart = "kill_to_start"
        case killWord = "kill_word"
        case yank
        case deleteChar = "delete_char"
        case backspace
        case historyPrevious = "history_previous"
        case historyNext = "history_next"
        case selectOlder = "select_older"
        case selectNewer = "select_newer"

        /// A few words for the help overlay.
        var label: String {
            switch self {
            case .send: "send"
            case .newline: "new line"
            case .quit: "quit"
            case .askQuit: "quit (asks)"
            case .help: "help"
            case .nextChat: "next chat"
            case .previousChat: "previous chat"
            case .nextUnread: "next unread"
            case .toggleFocus: "list/input, complete /cmd"
            case .scrollUp: "scroll up"
            case .scrollDown: "scroll down"
            case .scrollTop: "oldest"
            case .scrollBottom: "newest"
            case .redraw: "redraw"
            case .reconnect: "reconnect now"
            case .lineStart: "line start"
            case .lineEnd: "end"
            case .charLeft: "left"
            case .charRight: "right"
            case .wordLeft: "word left"
            case .wordRight: "right"
            case .killToEnd: "kill to end"
            case .killToStart: "to start"
            case .killWord: "word"
            case .yank: "yank"
            case .deleteChar: "delete"
            case .backspace: "backspace"
            case .historyPrevious: "history back"
            case .historyNext: "forward"
            case .selectOlder: "select older message"
            case .selectNewer: "newer"
            }
        }
    }

    public private(set) var keys: [Command: [Key]]
    private var commands: [Key: Command]

    public init(_ keys: [Command: [Key]]) {
        self.keys = keys
        var commands: [Key: Command] = [:]
        for command in Command.allCases {
            for key in keys[command] ?? [] { commands[key] = command }
        }
        self.commands = commands
    }

    public static let `default` = KeyBindings([
        .send: [.enter], .newline: [.altEnter, .ctrl("j")], .quit: [.ctrl("q")], .askQuit: [.ctrl("c")], .help: [.f1],
        .nextChat: [.ctrl("n"), .altDown], .previousChat: [.ctrl("p"), .altUp], .nextUnread: [.alt("a")],
        .toggleFocus: [.tab], .scrollUp: [.pageUp], .scrollDown: [.pageDown],
        .scrollTop: [.ctrlHome, .alt("<")], .scrollBottom: [.ctrlEnd, .alt(">")], .redraw: [.ctrl("l")], .reconnect: [.ctrl("r")],
        .lineStart: [.ctrl("a"), .home], .lineEnd: [.ctrl("e"), .end], .charLeft: [.left, .ctrl("b")], .charRight: [.right, .ctrl("f")],
        .wordLeft: [.alt("b")], .wordRight: [.alt("f")], .killToEnd: [.ctrl("k")], .killToStart: [.ctrl("u")],
        .killWord: [.ctrl("w")], .yank: [.ctrl("y")], .deleteChar: [.delete, .ctrl("d")], .backspace: [.backspace],
        .historyPrevious: [.up], .historyNext: [.down], .selectOlder: [.ctrlUp], .selectNewer: [.ctrlDown],
    ])

    public func command(for key: Key) -> Command? { commands[key] }

    /// These defaults with `overrides` applied: a rebound key leaves the command it had.
    public func overriding(_ overrides: [Command: [Key]]) -> KeyBindings {
        var keys = self.keys
        let taken = Set(overrides.values.joined())
        for command in Command.allCases { keys[command] = keys[command]?.filter { !taken.contains($0) } }
        for (command, newKeys) in overrides { keys[command] = newKeys }
        return KeyBindings(keys)
    }

    /// Lines for the help overlay, from the bindings in force: every key, then every command.
    public var helpLines: [String] {
        let groups: [[Command]] = [
            [.send, .newline], [.nextChat, .previousChat], [.nextUnread], [.toggleFocus],
            [.scrollUp, .scrollDown, .scrollTop, .scrollBottom],
            [.lineStart, .lineEnd, .deleteChar], [.charLeft, .charRight, .wordLeft, .wordRight],
            [.killToEnd, .killToStart, .killWord, .yank], [.historyPrevious, .historyNext, .selectOlder, .selectNewer],
            [.reconnect, .redraw, .help], [.quit, .askQuit],
        ]
        var lines = groups.map { group in
            group.compactMap { command -> String? in
                guard let bound = keys[command], !bound.isEmpty else { return nil }
                return bound.map(\.displayName).joined(separator: "/") + " " + command.label
            }.joined(separator: " · ")
        }
        lines[2] += (lines[2].isEmpty ? "" : " · ") + "Alt-1..9 chat N · list: Up/Down/Home/End, ? help"
        lines[3] += " · Tab after a name or @name completes it"
        lines += [
            "Mouse wheel scrolls; Up/Down move between the lines of a multi-line draft",
            "",
            "/new NAME, /new #GROUP     open a chat (/open too; the relay checks a new name)",
            "/search TEXT               every word as a prefix; Enter opens the result",
            "/pin /unpin /mute /unmute /close [CHAT]   a muted chat never rings; closed returns on news",
            "/accept /decline [#GROUP]   answer a group someone you never wrote to put you in (✉)",
            "/reply TEXT · /react [EMOJI]   on the message selected with Ctrl-Up",
            "/edit [TEXT] · /delete [everyone]   yours; here, or for everyone",
            "/timer 1h|30s|1d|off       disappearing messages here, both sides",
            "/file PATH [caption]       send a file up to 100 MiB (Tab completes the path)",
            "/save [DIR]                copy the selected or newest file here (or to DIR)",
            "/view                      show the selected or newest picture (kitty or sixel)",
            "/retry /delete             the selected (Ctrl-Up) or every failed message",
            "/info                      who received the selected or newest of yours (groups)",
            "/group create NAME MEMBER… | add | remove | promote | demote NAME MEMBER…",
            "/group rename NAME TITLE | leave [NAME] · /members",
            "/verify [NAME] [yes]       safety number; 'yes' once it matches theirs",
            "/theme NAME · /help · /quit · //text sends a line starting with /",
        ]
        return lines
    }
}

extension Key {
    /// Parses a key as written in config.toml: `ctrl-n`, `alt-a`, `alt-enter`, `pageup`, `f1`, `?`.
    public init?(configName: String) {
        let name = configName.lowercased()
        let named: [String: Key] = [
            "enter": .enter, "return": .enter, "alt-enter": .altEnter, "tab": .tab, "backspace": .backspace,
            "delete": .delete, "del": .delete, "escape": .escape, "esc": .escape, "up": .up, "down": .down,
            "left": .left, "right": .right, "home": .home, "end": .end, "pageup": .pageUp, "pgup": .pageUp,
            "pagedown": .pageDown, "pgdn": .pageDown, "alt-up": .altUp, "alt-down": .altDown,
            "ctrl-up": .ctrlUp, "ctrl-down": .ctrlDown, "ctrl-home": .ctrlHome, "ctrl-end": .ctrlEnd, "f1": .f1,
        ]
        if let key = named[name] {
            self = key
            return
        }
        for (prefix, make) in [("ctrl-", Key.ctrl), ("c-", Key.ctrl), ("alt-", Key.alt), ("m-", Key.alt)] as [(String, (Character) -> Key)] {
            if name.hasPrefix(prefix), name.count == prefix.count + 1, let c = name.last, c.isASCII, !c.isWhitespace {
                self = make(c)
                return
            }
        }
        if configName.count == 1, let c = configName.first, !c.isWhitespace {
            self = .character(c)
            return
        }
        return nil
    }

    /// How the help overlay writes the key.
    public var displayName: String {
        switch self {
        case .character(let c): String(c)
        case .enter: "Enter"
        case .altEnter: "Alt-Enter"
        case .tab: "Tab"
        case .backspace: "Backspace"
        case .delete: "Del"
        case .escape: "Esc"
        case .up: "Up"
        case .down: "Down"
        case .left: "Left"
        case .right: "Right"
        case .home: "Home"
        case .end: "End"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .altUp: "Alt-Up"
        case .altDown: "Alt-Down"
        case .ctrlUp: "Ctrl-Up"
        case .ctrlDown: "Ctrl-Down"
        case .ctrlHome: "Ctrl-Home"
        case .ctrlEnd: "Ctrl-End"
        case .wheelUp: "wheel up"
        case .wheelDown: "wheel down"
        case .ctrl(let c): "Ctrl-" + c.uppercased()
        case .alt(let c): "Alt-" + c.uppercased()
        case .f1: "F1"
        case .paste: "paste"
        }
    }
}
