import Foundation

/// URLs in message text, so the renderer can make them OSC 8 hyperlinks.
enum Links {
    /// http(s) URLs in `text`, in order. Only printable ASCII counts (nothing a terminal
    /// would act on), and closing punctuation at the end is left out ("see https://x.org.").
    static func urls(in text: String) -> [String] {
        var found: [String] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            guard characters[index] == "h", startsURL(characters, at: index) else {
                index += 1
                continue
            }
            var end = index
            while end < characters.count, let ascii = characters[end].asciiValue, ascii > 0x20, ascii < 0x7F { end += 1 }
            while end > index, ".,;:!?)]}'\"".contains(characters[end - 1]) { end -= 1 }
            let url = String(characters[index..<end])
            if url.count > 8 { found.append(url) }
            index = max(end, index + 1)
        }
        return found
    }

    private static func startsURL(_ characters: [Character], at index: Int) -> Bool {
        if index > 0, characters[index - 1].isLetter || characters[index - 1].isNumber { return false }
        for scheme in ["https://", "http://"] {
            let scalars = Array(scheme)
            if index + scalars.count <= characters.count, Array(characters[index..<index + scalars.count]) == scalars { return true }
        }
        return false
    }
}

/// Follows a message's URLs across its wrapped lines: a URL cut by wrapping links every
/// piece to the whole address.
struct LinkTracker {
    private let urls: [String]
    private var next = 0
    /// What is left of a URL that the previous line ended inside.
    private var pending: (url: String, rest: [Character])?

    init(urls: [String]) {
        self.urls = urls
    }

    /// The parts of `line` (the next wrapped line, in order) that belong to URLs.
    mutating func ranges(in line: String) -> [(range: Range<String.Index>, url: String)] {
        var result: [(Range<String.Index>, String)] = []
        let characters = Array(line)
        let indices = Array(line.indices) + [line.endIndex]
        var position = 0
        if let (url, rest) = pending {
            let common = zip(characters, rest).prefix { $0 == $1 }.count
            if common > 0 { result.append((indices[0]..<indices[common], url)) }
            pending = common < rest.count && common == characters.count ? (url, Array(rest.dropFirst(common))) : nil
            position = common
        }
        while next < urls.count, position < characters.count {
            let url = Array(urls[next])
            guard let start = (position..<characters.count).first(where: { startMatches(characters, $0, url) }) else { break }
            let length = min(url.count, characters.count - start)
            result.append((indices[start]..<indices[start + length], urls[next]))
            if length < url.count { pending = (urls[next], Array(url.dropFirst(length))) }
            next += 1
            position = start + length
        }
        return result
    }

    /// `url` starts at `start` (whole, or up to the end of the line).
    private func startMatches(_ characters: [Character], _ start: Int, _ url: [Character]) -> Bool {
        let length = min(url.count, characters.count - start)
        guard length >= min(url.count, 4) else { return false }
        return Array(characters[start..<start + length]) == Array(url.prefix(length))
    }
}
