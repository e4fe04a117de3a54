import Foundation
import ParlaClient

/// `/file PATH [caption]`, its path completion, and how a file's progress is kept.
extension Reducer {
    /// The path and the caption after it: a path with spaces is written in quotes.
    static func splitPath(_ argument: String) -> (path: String, caption: String?) {
        var path: String
        var rest: Substring
        if let quote = argument.first, quote == "\"" || quote == "'", let end = argument.dropFirst().firstIndex(of: quote) {
            path = String(argument[argument.index(after: argument.startIndex)..<end])
            rest = argument[argument.index(after: end)...]
        } else if let space = argument.firstIndex(of: " ") {
            path = String(argument[..<space])
            rest = argument[space...]
        } else {
            path = argument
            rest = ""
        }
        if path.hasPrefix("~") { path = NSString(string: path).expandingTildeInPath }
        let caption = rest.trimmingCharacters(in: .whitespaces)
        return (path, caption.isEmpty ? nil : caption)
    }

    /// The runner's listing for a Tab on `/file PARTIAL`: directories end in "/", and a name
    /// with spaces is put in quotes.
    static func pathCompleted(_ state: inout AppState, head: String, partial: String, matches: [String]) {
        guard state.editor.text == head + partial else { return }
        let quoted = matches.map { $0.contains(" ") ? "\"" + $0 + (matches.count == 1 && !$0.hasSuffix("/") ? "\"" : "") : $0 }
        let single = matches.count == 1 && !matches[0].hasSuffix("/")
        applyCompletion(&state, head: head, word: partial, matches: quoted, nothing: false, space: single,
                        shown: { ($0 as NSString).lastPathComponent + ($0.hasSuffix("/") ? "/" : "") })
    }
}
