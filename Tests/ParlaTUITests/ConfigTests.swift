import Foundation
@testable import ParlaTUI
import Testing

@Suite struct TOMLDocumentTests {
    @Test func readsTheSubsetThemesAndConfigUse() throws {
        let document = try TOMLDocument.parse("""
            # comment
            name = "x" # trailing comment
            count = 1_000
            ratio = 0.5
            on = true
            list = [1, "two",
              3, # comment inside
            ]
            [styles]
            border = { fg = 240, bold = true }
            "quoted key" = 'C:\\literal'
            [a.b]
            c.d = "\\u00e9\\t"
            """, file: "t.toml")
        #expect(document["name"]?.kind == .string("x"))
        #expect(document["count"]?.kind == .integer(1000))
        #expect(document["ratio"]?.kind == .float(0.5))
        #expect(document["on"]?.kind == .bool(true))
        guard case .array(let items)? = document["list"]?.kind else { Issue.record("list"); return }
        #expect(items.map(\.kind) == [.integer(1), .string("two"), .integer(3)])
        guard case .table(let styles)? = document["styles"]?.kind, case .table(let border)? = styles["border"]?.kind else {
            Issue.record("styles"); return
        }
        #expect(border["fg"]?.kind == .integer(240))
        #expect(border["fg"]?.line == 10)
        #expect(styles["quoted key"]?.kind == .string("C:\\literal"))
        guard case .table(let a)? = document["a"]?.kind, case .table(let b)? = a["b"]?.kind, case .table(let c)? = b["c"]?.kind else {
            Issue.record("a.b.c"); return
        }
        #expect(c["d"]?.kind == .string("é\t"))
        #expect(document.keys == ["name", "count", "ratio", "on", "list", "styles", "a"])
    }

    @Test(arguments: [
        ("a = \"open", 1, "not closed"),
        ("a = 1\na = 2", 2, "set twice"),
        ("a = 1\n\nb = blue", 3, "strings need quotes"),
        ("[[x]]", 1, "arrays of tables"),
        ("[t]\n[t]", 2, "defined twice"),
        ("a = [1, 2", 1, "not closed"),
        ("a = 1 b = 2", 1, "one key = value per line"),
        ("a = { x = 1", 1, "not closed"),
        ("= 3", 1, "where a key should be"),
        ("a = \"\\q\"", 1, "unknown escape"),
    ])
    func errorsNameTheLine(text: String, line: Int, message: String) {
        #expect {
            try TOMLDocument.parse(text, file: "f.toml")
        } throws: { error in
            guard let error = error as? TOMLError else { return false }
            return error.file == "f.toml" && error.line == line && error.message.contains(message)
        }
    }
}

@Suite struct ThemeTests {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../themes").standardized.path

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "parla-themes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The fuzzer's find (Tests/Fuzz): 200 nested lists overflowed the stack.
    @Test func deepNestingIsAnErrorNotACrash() throws {
        let deep = "palette = " + String(repeating: "[", count: 5000) + "\n"
        #expect(throws: TOMLError.self) { try TOMLDocument.parse(deep, file: "theme.toml") }
        do {
            _ = try TOMLDocument.parse(deep, file: "theme.toml")
        } catch {
            #expect(error.message.contains("nested more than 32 deep") && error.line == 1)
        }
        let fine = try TOMLDocument.parse("x = " + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "\n", file: "ok.toml")
        #expect(fine["x"] != nil)
    }

    @Test func everyShippedThemeLoads() throws {
        let catalog = ThemeCatalog(directories: [Self.shipped])
        #expect(Set(["default", "light", "high-contrast", "mono"]).isSubset(of: catalog.names()))
        for name in ["default", "light", "high-contrast", "mono"] {
            let theme = try catalog.load(name)
            #expect(theme.name == name)
            if name != "mono" { #expect(theme.style(.tickRead).foreground != nil, "\(name) colours read ticks") }
        }
    }

    /// The compiled-in fallbacks (used when no theme files are found) must look like the files.
    @Test func builtInThemesMatchTheirFiles() throws {
        let catalog = ThemeCatalog(directories: [Self.shipped])
        for builtIn in [Theme.default, Theme.mono] {
            let file = try catalog.load(builtIn.name)
            for role in StyleRole.named { #expect(file.style(role) == builtIn.style(role), "\(builtIn.name) \(role.key)") }
            #expect(file.senderPalette == builtIn.senderPalette)
        }
    }

    @Test func userThemesOverrideAndInherit() throws {
        let user = try temporaryDirectory()
        try "base = \"default\"\n[styles]\ntick_read = { fg = \"#ff0000\", italic = true }\n".write(toFile: user + "/mine.toml", atomically: true, encoding: .utf8)
        try "[styles]\nborder = { fg = \"red\" }\n".write(toFile: user + "/light.toml", atomically: true, encoding: .utf8)
        let catalog = ThemeCatalog(directories: [Self.shipped, user])
        let mine = try catalog.load("mine")
        #expect(mine.style(.tickRead) == Theme.Style(foreground: 196, italic: true), "#ff0000 is xterm 196")
        #expect(mine.style(.border) == Theme.default.style(.border), "the rest comes from the base")
        let light = try catalog.load("light")
        #expect(light.style(.border).foreground == 1, "the user's light.toml wins over the shipped one")
        #expect(catalog.names().contains("mine"))
        #expect(throws: ThemeError.notFound(name: "nope", available: catalog.names())) { try catalog.load("nope") }
    }

    @Test func aBrokenThemeNamesFileLineAndKey() throws {
        let user = try temporaryDirectory()
        let path = user + "/broken.toml"
        try "# mine\n[styles]\nborder = { fg = 240 }\ntick_read = { fg = \"blu\" }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let catalog = ThemeCatalog(directories: [user])
        #expect {
            try catalog.load("broken")
        } throws: { error in
            "\(error)" == "\(path):4: key 'styles.tick_read.fg': unknown colour 'blu'; use a colour name (red, bright_blue, …, default), a number 0-255 or \"#rrggbb\""
        }
        for (text, message) in [
            ("[styles]\nborders = {}", "2: key 'styles.borders': unknown role"),
            ("[styles]\nborder = { fg = 300 }", "2: key 'styles.border.fg': 300 is out of range"),
            ("[styles]\nborder = { blink = true }", "2: key 'styles.border.blink': unknown attribute"),
            ("[styles]\nborder = { bold = \"yes\" }", "2: key 'styles.border.bold': must be true or false"),
            ("colour = 1", "1: key 'colour': unknown key"),
            ("base = \"nothing\"", "1: key 'base': no theme named 'nothing'"),
            ("base = \"broken\"", "themes form a loop"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: ThemeError.self) { try catalog.load("broken") }
            do { _ = try catalog.load("broken") } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    @Test func senderColoursAreStablePerName() {
        let theme = Theme.default
        #expect(theme.senderRole(for: "bob") == theme.senderRole(for: "bob"))
        let roles = Set(["bob", "carol", "dave", "erin", "frank", "grace"].map(theme.senderRole(for:)))
        #expect(roles.count > 1, "different people get different colours")
        #expect(Theme.mono.senderRole(for: "bob") == .senderName, "no palette: one style for all")
        #expect(theme.style(.sender(1)).foreground == theme.senderPalette[1])
    }

    @Test func coloursDegradeTo16And8() {
        #expect(ColorMapping.nearest(81, available: 256) == 81)
        #expect(ColorMapping.nearest(196, available: 16) == 9, "bright red")
        #expect(ColorMapping.nearest(196, available: 8) == 1, "red")
        #expect(ColorMapping.nearest256(red: 0x80, green: 0x80, blue: 0x80) == 244)
    }
}

@Suite struct AppConfigTests {
    @Test func settingsAndRebindings() throws {
        let config = try AppConfig().applying("""
            theme = "light"
            bell = false
            title = false
            pictures = false
            hyperlinks = false
            [keys]
            quit = "ctrl-x"
            next_chat = ["alt-j", "ctrl-n"]
            kill_to_end = "alt-k"
            """, file: "config.toml")
        #expect(config.theme == "light")
        #expect(!config.bell && !config.title && !config.pictures && !config.hyperlinks && AppConfig().pictures)
        #expect(config.keys.command(for: .ctrl("x")) == .quit)
        #expect(config.keys.command(for: .ctrl("q")) == nil, "the old key is free")
        #expect(config.keys.command(for: .alt("j")) == .nextChat)
        #expect(config.keys.command(for: .ctrl("k")) == nil)
        #expect(config.keys.command(for: .alt("k")) == .killToEnd)
        #expect(config.keys.command(for: .altDown) == nil, "a command's keys are replaced, not added to")
        #expect(config.keys.command(for: .ctrl("p")) == .previousChat, "untouched commands keep their keys")
    }

    @Test func aKeyTakenFromAnotherCommandLeavesIt() throws {
        let config = try AppConfig().applying("[keys]\nquit = \"ctrl-w\"\n", file: "c")
        #expect(config.keys.command(for: .ctrl("w")) == .quit)
        #expect(config.keys.keys[.killWord] == [])
    }

    @Test(arguments: [
        ("[keys]\nfly = \"ctrl-x\"", 2, "key 'keys.fly': unknown command"),
        ("[keys]\nquit = \"hyper-x\"", 2, "key 'keys.quit': unknown key 'hyper-x'"),
        ("[keys]\nquit = \"ctrl-x\"\nhelp = \"ctrl-x\"", 3, "'ctrl-x' is already bound to quit"),
        ("bell = \"loud\"", 1, "key 'bell': must be true or false"),
        ("colour = 1", 1, "unknown setting"),
    ])
    func mistakesAreNamed(text: String, line: Int, message: String) {
        #expect {
            try AppConfig().applying(text, file: "config.toml")
        } throws: { error in
            guard let error = error as? TOMLError else { return false }
            return error.line == line && error.message.contains(message)
        }
    }

    @Test func aBrokenFileIsSkippedAndReportedTheNextStillApplies() throws {
        let directory = NSTemporaryDirectory() + "parla-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "theme = \"light\"\nbell = nope\n".write(toFile: directory + "/user.toml", atomically: true, encoding: .utf8)
        try "title = false\n".write(toFile: directory + "/profile.toml", atomically: true, encoding: .utf8)
        let (config, errors) = AppConfig.load(files: [directory + "/user.toml", directory + "/profile.toml", directory + "/absent.toml"])
        #expect(config.theme == nil, "nothing from the broken file is half-applied")
        #expect(config.title == false)
        #expect(errors.map(\.line) == [2])
        #expect(errors.first?.file == directory + "/user.toml")
    }
}
