import Foundation

/// `@name` mentions of the user in a message: highlighted on screen and worth a bell even
/// when ordinary messages ring none.
public enum Mentions {
    /// Where `@name` appears as a whole word (not inside `@names` or an e-mail address).
    public static func ranges(of name: String, in text: String) -> [Range<String.Index>] {
        let needle = "@" + name
        var found: [Range<String.Index>] = []
        var searchFrom = text.startIndex
        while let range = text.range(of: needle, options: [.caseInsensitive], range: searchFrom..<text.endIndex) {
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            let isNameCharacter: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" }
            let startsWord = before.map { !isNameCharacter($0) && $0 != "@" } ?? true
            let endsWord = after.map { !isNameCharacter($0) || ($0 == "." && range.upperBound == text.index(before: text.endIndex)) } ?? true
            if startsWord, endsWord { found.append(range) }
            searchFrom = range.upperBound
        }
        return found
    }
}
