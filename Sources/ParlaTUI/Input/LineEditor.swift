/// The input line's text and cursor, edited one grapheme cluster at a time with
/// the Emacs/readline keys people already know (Ctrl-A/E/B/F/K/U/W/Y, Alt-B/F).
public struct LineEditor: Sendable, Equatable {
    /// The text as grapheme clusters; the cursor is an index into it.
    public private(set) var characters: [Character] = []
    public private(set) var cursor = 0
    /// What the last kill removed, for Ctrl-Y.
    public private(set) var killBuffer = ""
    /// Sent lines, oldest first, for Up/Down recall.
    public private(set) var history: [String] = []
    private var historyIndex: Int?
    private var draft = ""

    public init(text: String = "") {
        characters = Array(text)
        cursor = characters.count
    }

    public var text: String { String(characters) }
    public var isEmpty: Bool { characters.isEmpty }

    public mutating func insert(_ text: String) {
        let new = Array(text)
        characters.insert(contentsOf: new, at: cursor)
        cursor += new.count
        // Re-segment: a combining mark typed after a letter joins it into one cluster.
        let before = String(characters[..<cursor])
        characters = Array(String(characters))
        cursor = before.count
    }

    public mutating func backspace() {
        guard cursor > 0 else { return }
        characters.remove(at: cursor - 1)
        cursor -= 1
    }

    public mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
    }

    public mutating func moveLeft() { cursor = max(0, cursor - 1) }
    public mutating func moveRight() { cursor = min(characters.count, cursor + 1) }

    /// Ctrl-A / Ctrl-E work on the current line of a multi-line input.
    public mutating func moveToLineStart() {
        while cursor > 0, characters[cursor - 1] != "\n" { cursor -= 1 }
    }

    public mutating func moveToLineEnd() {
        while cursor < characters.count, characters[cursor] != "\n" { cursor += 1 }
    }

    public mutating func moveWordLeft() {
        while cursor > 0, !isWordCharacter(characters[cursor - 1]) { cursor -= 1 }
        while cursor > 0, isWordCharacter(characters[cursor - 1]) { cursor -= 1 }
    }

    public mutating func moveWordRight() {
        while cursor < characters.count, !isWordCharacter(characters[cursor]) { cursor += 1 }
        while cursor < characters.count, isWordCharacter(characters[cursor]) { cursor += 1 }
    }

    /// Ctrl-K: to the end of the line.
    public mutating func killToEnd() {
        var end = cursor
        while end < characters.count, characters[end] != "\n" { end += 1 }
        if end == cursor, end < characters.count { end += 1 } // at a line end, join the next line
        kill(cursor..<end)
    }

    /// Ctrl-U: to the start of the line.
    public mutating func killToStart() {
        var start = cursor
        while start > 0, characters[start - 1] != "\n" { start -= 1 }
        kill(start..<cursor)
        cursor = start
    }

    /// Ctrl-W: the word before the cursor (and the spaces after it).
    public mutating func killWordBackward() {
        var start = cursor
        while start > 0, characters[start - 1].isWhitespace { start -= 1 }
        while start > 0, !characters[start - 1].isWhitespace { start -= 1 }
        kill(start..<cursor)
        cursor = start
    }

    /// Ctrl-Y: puts back what was last killed.
    public mutating func yank() {
        insert(killBuffer)
    }

    private mutating func kill(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        killBuffer = String(characters[range])
        characters.removeSubrange(range)
    }

    /// Takes the text for sending, remembers it for recall, and clears the line.
    public mutating func submit() -> String {
        let sent = text
        if !sent.isEmpty, history.last != sent { history.append(sent) }
        characters = []
        cursor = 0
        historyIndex = nil
        draft = ""
        return sent
    }

    /// Up on the first line: the previous sent line (the unsent draft is kept).
    public mutating func recallPrevious() {
        guard !history.isEmpty else { return }
        if historyIndex == nil { draft = text }
        let index = max(0, (historyIndex ?? history.count) - 1)
        historyIndex = index
        replace(with: history[index])
    }

    /// Down on the last line: the next sent line, and finally the draft again.
    public mutating func recallNext() {
        guard let index = historyIndex else { return }
        if index + 1 < history.count {
            historyIndex = index + 1
            replace(with: history[index + 1])
        } else {
            historyIndex = nil
            replace(with: draft)
        }
    }

    /// The sent lines kept in the profile, at start-up (oldest first).
    public mutating func restoreHistory(_ lines: [String]) {
        history = lines + history.filter { !lines.contains($0) }
        historyIndex = nil
    }

    /// Up inside a multi-line draft: the same column of the line above (or its end).
    public mutating func moveLineUp() {
        let column = cursor - lineStart(of: cursor)
        let start = lineStart(of: cursor)
        guard start > 0 else { return }
        let above = lineStart(of: start - 1)
        cursor = min(above + column, start - 1)
    }

    /// Down inside a multi-line draft: the same column of the line below (or its end).
    public mutating func moveLineDown() {
        let column = cursor - lineStart(of: cursor)
        var end = cursor
        while end < characters.count, characters[end] != "\n" { end += 1 }
        guard end < characters.count else { return }
        var belowEnd = end + 1
        while belowEnd < characters.count, characters[belowEnd] != "\n" { belowEnd += 1 }
        cursor = min(end + 1 + column, belowEnd)
    }

    private func lineStart(of index: Int) -> Int {
        var start = index
        while start > 0, characters[start - 1] != "\n" { start -= 1 }
        return start
    }

    /// Replaces the text from `start` to the cursor (a completed word); the cursor follows it.
    public mutating func replaceWord(from start: Int, with text: String) {
        let new = Array(text)
        characters.replaceSubrange(start..<cursor, with: new)
        cursor = start + new.count
    }

    public var cursorOnFirstLine: Bool { !characters[..<cursor].contains("\n") }
    public var cursorOnLastLine: Bool { !characters[cursor...].contains("\n") }

    /// Sets the whole text (completion), cursor at the end.
    public mutating func replace(with text: String) {
        characters = Array(text)
        cursor = characters.count
    }

    private func isWordCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c == "_"
    }
}
