import ParlaTUI
import Testing

@Suite struct DisplayWidthTests {
    let widths = DisplayWidth()

    @Test(arguments: [
        ("a", 1), ("é", 1), ("e\u{301}", 1), ("漢", 2), ("字", 2), ("한", 2), ("ｱ", 1), ("Ａ", 2),
        ("👋", 2), ("🍕", 2), ("👍🏽", 2), ("🇮🇹", 2), ("👨‍👩‍👧", 2), ("❤️", 2), ("❤", 1), ("\u{200B}", 0), ("\t", 0),
        ("→", 1), ("€", 1), ("✓", 1), ("✅", 2),
    ])
    func defaultWidths(text: String, expected: Int) {
        #expect(widths.width(of: Character(text)) == expected, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test func terminalMeasurementsOverrideTheDisagreeingClasses() {
        let tmux = DisplayWidth(variationSelectorEmoji: 1, zwjSequence: 2, flag: 2)
        #expect(tmux.width(of: "❤️") == 1)
        #expect(tmux.width(of: "ciao ❤️!") == 7)
        #expect(tmux.width(of: "👋") == 2, "plain emoji are not affected")
    }

    @Test func stringWidthSumsClusters() {
        #expect(widths.width(of: "ciao 👋 漢字 e\u{301}") == 5 + 2 + 1 + 4 + 1 + 1)
    }
}

@Suite struct TextLayoutTests {
    let layout = TextLayout()

    @Test func wrapsAtSpacesWithinTheWidth() {
        #expect(layout.wrap("ciao! come va? tutto bene", width: 10) == ["ciao! come", "va? tutto", "bene"])
    }

    @Test func longWordsAreCutAndExplicitNewlinesKept() {
        #expect(layout.wrap("abcdefghijkl", width: 5) == ["abcde", "fghij", "kl"])
        #expect(layout.wrap("one\n\ntwo", width: 10) == ["one", "", "two"])
    }

    @Test func wideCharactersNeverSplitOrOverflow() {
        let lines = layout.wrap("漢字漢字漢", width: 5)
        #expect(lines == ["漢字", "漢字", "漢"])
        for line in layout.wrap("👨‍👩‍👧👋🇮🇹e\u{301}漢字 ciao 👍🏽👍🏽👍🏽", width: 3) {
            #expect(DisplayWidth().width(of: line) <= 3, "\(line)")
        }
    }

    @Test func truncateAddsAnEllipsisAndRespectsWideCharacters() {
        #expect(layout.truncate("hello world", width: 8) == "hello w…")
        #expect(layout.truncate("漢字漢字", width: 5) == "漢字…")
        #expect(layout.truncate("short", width: 8) == "short")
        #expect(layout.fit("漢字漢字", width: 6) == "漢字… ")
    }
}

@Suite struct ScreenBufferTests {
    @Test func wideCharactersTakeTwoCellsAndBordersDoNotShift() {
        var screen = ScreenBuffer(width: 10, height: 1)
        screen.put("|", x: 0, y: 0, role: .border)
        screen.put("漢👋é", x: 1, y: 0, role: .normal)
        screen.put("|", x: 9, y: 0, role: .border)
        #expect(screen.row(0) == "|漢👋é   |")
        #expect(screen[2, 0].text == "", "continuation cell")
    }

    @Test func aWideCharacterThatDoesNotFitBecomesSpace() {
        var screen = ScreenBuffer(width: 4, height: 1)
        let used = screen.put("ab漢", x: 0, y: 0, role: .normal, maxWidth: 3)
        #expect(used == 3)
        #expect(screen.row(0) == "ab  ")
    }

    @Test func overwritingHalfAWideCharacterBlanksTheOtherHalf() {
        var screen = ScreenBuffer(width: 4, height: 1)
        screen.put("漢字", x: 0, y: 0, role: .normal)
        screen.put("x", x: 1, y: 0, role: .normal)
        #expect(screen.row(0) == " x字")
    }

    @Test func combiningMarksStayWithTheirBase() {
        var screen = ScreenBuffer(width: 3, height: 1)
        screen.put("e\u{301}a", x: 0, y: 0, role: .normal)
        #expect(screen.row(0) == "e\u{301}a ")
    }
}

@Suite struct LineEditorTests {
    @Test func insertMoveAndDeleteByGrapheme() {
        var editor = LineEditor()
        editor.insert("ciao 👨‍👩‍👧 e")
        editor.insert("\u{301}")
        #expect(editor.text == "ciao 👨‍👩‍👧 é" || editor.text == "ciao 👨‍👩‍👧 e\u{301}")
        #expect(editor.characters.count == 8)
        editor.backspace()
        #expect(editor.text == "ciao 👨‍👩‍👧 ")
        editor.moveLeft()
        editor.backspace()
        #expect(editor.text == "ciao  ", "the whole ZWJ family goes at once")
    }

    @Test func readlineKills() {
        var editor = LineEditor(text: "hello big world")
        editor.killWordBackward()
        #expect(editor.text == "hello big ")
        editor.yank()
        #expect(editor.text == "hello big world")
        editor.moveToLineStart()
        editor.moveWordRight()
        editor.killToEnd()
        #expect(editor.text == "hello")
        #expect(editor.killBuffer == " big world")
        editor.killToStart()
        #expect(editor.text.isEmpty)
    }

    @Test func wordMotionSkipsPunctuation() {
        var editor = LineEditor(text: "ciao, come va?")
        editor.moveWordLeft()
        #expect(editor.cursor == 11)
        editor.moveWordLeft()
        editor.moveWordLeft()
        #expect(editor.cursor == 0)
        editor.moveWordRight()
        #expect(editor.cursor == 4)
    }

    @Test func multiLineHomeEndAndKillWorkPerLine() {
        var editor = LineEditor(text: "first\nsecond")
        editor.moveToLineStart()
        #expect(editor.cursor == 6)
        #expect(!editor.cursorOnFirstLine)
        editor.killToEnd()
        #expect(editor.text == "first\n")
    }

    @Test func historyRecallKeepsTheDraft() {
        var editor = LineEditor()
        editor.insert("one"); _ = editor.submit()
        editor.insert("two"); _ = editor.submit()
        editor.insert("draft")
        editor.recallPrevious()
        #expect(editor.text == "two")
        editor.recallPrevious()
        #expect(editor.text == "one")
        editor.recallPrevious()
        #expect(editor.text == "one")
        editor.recallNext()
        #expect(editor.text == "two")
        editor.recallNext()
        #expect(editor.text == "draft")
    }
}
