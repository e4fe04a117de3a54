@testable import ParlaTUI
import Testing

@Suite struct KeyDecoderTests {
    func chars(_ text: String) -> [RawInput] { text.unicodeScalars.map { .character($0.value) } }

    @Test func controlCharactersAndPlainText() {
        var decoder = KeyDecoder()
        #expect(decoder.decode([.character(13), .character(9), .character(127), .character(1), .character(17)]) == [.enter, .tab, .backspace, .ctrl("a"), .ctrl("q")])
        #expect(decoder.decode(chars("é漢👋")) == [.character("é"), .character("漢"), .character("👋")])
        #expect(decoder.decode([.character(10)]) == [.ctrl("j")])
    }

    @Test func altIsAnEscapePrefix() {
        var decoder = KeyDecoder()
        #expect(decoder.decode(chars("\u{1B}b")) == [.alt("b")])
        #expect(decoder.decode(chars("\u{1B}\r")) == [.altEnter])
        #expect(decoder.decode(chars("\u{1B}1")) == [.alt("1")])
        #expect(decoder.decode(chars("\u{1B}")) == [.escape], "a lone ESC at the end of a batch")
        #expect(decoder.decode(chars("\u{1B}[1;3A\u{1B}[1;3B")) == [.altUp, .altDown])
        #expect(decoder.decode([.character(27), .keyCode(0o403, name: "KEY_UP")]) == [.altUp])
        #expect(decoder.decode([.keyCode(0, name: "kDN3")]) == [.altDown])
        #expect(decoder.decode(chars("\u{1B}[1;5A\u{1B}[1;5B")) == [.ctrlUp, .ctrlDown], "Ctrl-arrows when keypad mode leaves them raw")
        #expect(decoder.decode([.keyCode(0, name: "kUP5"), .keyCode(0, name: "kDN5")]) == [.ctrlUp, .ctrlDown])
    }

    @Test func keyCodes() {
        var decoder = KeyDecoder()
        let codes: [(Int32, Key)] = [(0o403, .up), (0o402, .down), (0o404, .left), (0o405, .right), (0o406, .home), (0o550, .end),
                                     // curses.h: KEY_NPAGE (next page, Page Down) is 0522, KEY_PPAGE 0523.
                                     (0o522, .pageDown), (0o523, .pageUp), (0o407, .backspace), (0o512, .delete), (0o411, .f1)]
        for (code, key) in codes {
            #expect(decoder.decode([.keyCode(code, name: "")]) == [key])
        }
    }

    @Test func escapeSequencesAreOneKeyOrNothingNeverTypedText() {
        var decoder = KeyDecoder()
        // Raw sequences a terminal sends when its terminfo entry does not match (vt100, linux, screen).
        #expect(decoder.decode(chars("\u{1B}[5~\u{1B}[6~\u{1B}[1~\u{1B}[4~\u{1B}[3~")) == [.pageUp, .pageDown, .home, .end, .delete])
        #expect(decoder.decode(chars("\u{1B}OP\u{1B}[[A\u{1B}OA")) == [.f1, .f1, .up])
        #expect(decoder.decode(chars("\u{1B}[1;5H\u{1B}[1;5F")) == [.ctrlHome, .ctrlEnd])
        #expect(decoder.decode([.keyCode(0, name: "kHOM5"), .keyCode(0, name: "kEND5")]) == [.ctrlHome, .ctrlEnd])
        // Unknown ones (F5, Shift-F3, a focus report) are dropped whole: no "15~" or "P" in the input.
        #expect(decoder.decode(chars("\u{1B}[15~\u{1B}[1;2R\u{1B}[I\u{1B}OQx")) == [.character("x")])
        // SGR mouse reports: the wheel scrolls, clicks are ignored.
        #expect(decoder.decode(chars("\u{1B}[<64;10;5M\u{1B}[<65;10;5M\u{1B}[<0;3;4M\u{1B}[<0;3;4m")) == [.wheelUp, .wheelDown])
        #expect(decoder.decode([.wheel(-1), .wheel(1)]) == [.wheelUp, .wheelDown], "turns ncurses decoded")
        #expect(decoder.decode(chars("\u{1B}b")) == [.alt("b")], "Alt-letter still works")
    }

    @Test func bracketedPasteIsOneBlockEvenAcrossReads() {
        var decoder = KeyDecoder()
        #expect(decoder.decode(chars("\u{1B}[200~line one\rline")).isEmpty)
        #expect(decoder.decode(chars(" two\nthree\u{1B}[201~x")) == [.paste("line one\nline two\nthree"), .character("x")])
    }
}

@Suite struct TerminalProbeTests {
    @Test func parsesCursorReports() {
        #expect(TerminalProbe.parseCursorReport(Array("\u{1B}[12;3R".utf8)) == 3)
        #expect(TerminalProbe.parseCursorReport(Array("junk\u{1B}[1;40R".utf8)) == 40)
        #expect(TerminalProbe.parseCursorReport(Array("\u{1B}[12R".utf8)) == nil)
        #expect(TerminalProbe.parseCursorReport(Array("no escape".utf8)) == nil)
    }
}
