import Foundation

/// A message worth telling the user about while they look elsewhere.
struct Notification: Sendable, Equatable {
    var chat: String
    var from: String
    var text: String
}

/// Desktop notifications through the terminal (OSC 9, OSC 777 or OSC 99, where the
/// terminal is known to show them), else the bell. Several messages that arrive
/// together (a backlog) become one notification.
struct Notifier {
    /// `notifications` in config.toml.
    enum Style: String, Sendable, Equatable, CaseIterable {
        case auto, osc9, osc777, osc99, bell, off
    }

    let style: Style

    /// What the terminal in `environment` is known to support. Inside tmux or screen an
    /// escape sequence would not reach the outer terminal by default, so the bell is used
    /// (tmux passes it on, and most terminals turn it into an alert).
    static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> Style {
        if environment["TMUX"] != nil || environment["STY"] != nil { return .bell }
        let program = environment["TERM_PROGRAM"] ?? ""
        let term = environment["TERM"] ?? ""
        if ["iTerm.app", "WezTerm", "ghostty"].contains(program) { return .osc9 }
        if environment["KITTY_WINDOW_ID"] != nil || term == "xterm-kitty" { return .osc99 }
        if term.hasPrefix("foot") || term.hasPrefix("rxvt-unicode") { return .osc777 }
        return .bell
    }

    /// The escape sequence for `batch`, or nil where the bell (or nothing) is what happens.
    func sequence(for batch: [Notification]) -> String? {
        guard let first = batch.first else { return nil }
        let senders = batch.map(\.from).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let title = batch.count == 1 ? (first.chat.hasPrefix("#") ? "\(first.from) in \(first.chat)" : first.from)
            : "\(batch.count) new messages"
        let body = batch.count == 1 ? first.text : "from " + senders.joined(separator: ", ")
        let cleanTitle = Self.clean(title), cleanBody = Self.clean(body)
        switch style {
        case .osc9: return "\u{1B}]9;\(cleanTitle): \(cleanBody)\u{07}"
        case .osc777: return "\u{1B}]777;notify;\(cleanTitle);\(cleanBody)\u{07}"
        case .osc99: return "\u{1B}]99;;\(cleanTitle): \(cleanBody)\u{1B}\\"
        case .auto, .bell, .off: return nil
        }
    }

    /// One line of at most 200 characters with nothing a terminal would act on (a peer's
    /// text must never end the sequence early or start another one).
    static func clean(_ text: String) -> String {
        let scalars = text.unicodeScalars.map { scalar -> Unicode.Scalar in
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) ? " " : scalar
        }
        let line = String(String.UnicodeScalarView(scalars)).replacingOccurrences(of: ";", with: ",")
        return line.count > 200 ? String(line.prefix(199)) + "…" : line
    }

    func notify(_ batch: [Notification], bell: Bool, terminal: Terminal) {
        guard !batch.isEmpty else { return }
        if let sequence = sequence(for: batch) {
            terminal.writeRaw(sequence)
        } else if style == .bell || style == .auto, bell {
            terminal.bell()
        }
    }
}
