import Foundation

/// The words of a line that a search found: each search word is the start of a word
/// in the text, ignoring case and accents (as the FTS5 prefix query matched them).
enum SearchMatches {
    static func ranges(of terms: [String], in text: String) -> [Range<String.Index>] {
        let wanted = terms.map(fold).filter { !$0.isEmpty }
        guard !wanted.isEmpty else { return [] }
        var result: [Range<String.Index>] = []
        var index = text.startIndex
        var previous: Character?
        while index < text.endIndex {
            let atWordStart = (text[index].isLetter || text[index].isNumber) && !(previous.map { $0.isLetter || $0.isNumber } ?? false)
            if atWordStart, let length = wanted.compactMap({ matchLength(of: $0, in: text, at: index) }).max() {
                // The whole word the prefix found.
                var end = text.index(index, offsetBy: length)
                while end < text.endIndex, text[end].isLetter || text[end].isNumber { end = text.index(after: end) }
                result.append(index..<end)
                previous = text[text.index(before: end)]
                index = end
                continue
            }
            previous = text[index]
            index = text.index(after: index)
        }
        return result
    }

    /// How many characters from `start` match `term` (folded), if they all do.
    private static func matchLength(of term: String, in text: String, at start: String.Index) -> Int? {
        var index = start
        var count = 0
        var folded = ""
        while index < text.endIndex, folded.count < term.count {
            folded += fold(String(text[index]))
            index = text.index(after: index)
            count += 1
        }
        return folded.hasPrefix(term) ? count : nil
    }

    private static func fold(_ text: String) -> String {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }
}
