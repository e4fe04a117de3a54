import Foundation

/// The user's UI settings from `~/.config/parla/config.toml`, then the profile's
/// `config.toml` (whose keys win): theme, bell, terminal title and key bindings.
public struct AppConfig: Sendable, Equatable {
    public var theme: String?
    /// Ring the terminal bell when a message arrives in a chat you are not looking at.
    public var bell = true
    /// Show the unread count in the terminal's title.
    public var title = true
    public var keys = KeyBindings.default
    /// Scroll with the mouse wheel (the terminal then reports wheel turns; Shift-drag still selects).
    public var mouse = true
    /// How to tell the user about messages while they look elsewhere.
    var notifications = Notifier.Style.auto
    /// Message times, as a `DateFormatter` pattern ("HH:mm", "h:mm a").
    public var timeFormat = "HH:mm"
    /// URLs in messages as clickable OSC 8 hyperlinks.
    public var hyperlinks = true
    /// Pictures drawn inside the conversation where the terminal can (kitty graphics, sixel).
    public var pictures = true

    public init() {}

    /// Reads the files that exist, in order. A broken file is skipped whole and its
    /// error returned, so the UI still starts (with defaults) and can say what to fix.
    public static func load(files: [String]) -> (config: AppConfig, errors: [TOMLError]) {
        var config = AppConfig()
        var errors: [TOMLError] = []
        for path in files where FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                errors.append(TOMLError(file: path, line: 0, message: "cannot be read as UTF-8 text"))
                continue
            }
            do {
                config = try config.applying(text, file: path)
            } catch {
                errors.append(error)
            }
        }
        return (config, errors)
    }

    /// The standard places, least specific first.
    public static func files(profileDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        [(ConfigPaths.directory(environment: environment) as NSString).appendingPathComponent("config.toml"),
         (profileDirectory as NSString).appendingPathComponent("config.toml")]
    }

    /// Why `pattern` cannot be the time format (nil: it can): it must show the hour and
    /// fit the conversation's time column.
    static func problem(withTimeFormat pattern: String) -> String? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = pattern
        let sample = formatter.string(from: Date(timeIntervalSince1970: 1_700_000_000 + 13 * 3600))
        if pattern.isEmpty || !pattern.contains(where: { "HhkK".contains($0) }) {
            return "must show the hour, e.g. \"HH:mm\" or \"h:mm a\""
        }
        if sample.count > 12 { return "'\(pattern)' writes '\(sample)', longer than 12 characters" }
        return nil
    }

    /// This configuration with one file's settings on top.
    public func applying(_ text: String, file: String) throws(TOMLError) -> AppConfig {
        let document = try TOMLDocument.parse(text, file: file)
        var config = self
        func fail(_ value: TOMLValue, _ key: String, _ message: String) -> TOMLError {
            TOMLError(file: file, line: value.line, message: "key '\(key)': \(message)")
        }
        for (key, value) in document.entries {
            switch key {
            case "theme":
                guard case .string(let name) = value.kind, !name.isEmpty else { throw fail(value, key, "must be a theme name in quotes") }
                config.theme = name
            case "bell", "title":
                guard case .bool(let on) = value.kind else { throw fail(value, key, "must be true or false, not \(value.typeName)") }
                if key == "bell" { config.bell = on } else { config.title = on }
            case "mouse", "hyperlinks", "pictures":
                guard case .bool(let on) = value.kind else { throw fail(value, key, "must be true or false, not \(value.typeName)") }
                switch key {
                case "mouse": config.mouse = on
                case "hyperlinks": config.hyperlinks = on
                default: config.pictures = on
                }
            case "notifications":
                guard case .string(let name) = value.kind, let style = Notifier.Style(rawValue: name) else {
                    throw fail(value, key, "must be one of \(Notifier.Style.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
                }
                config.notifications = style
            case "time_format":
                guard case .string(let pattern) = value.kind else { throw fail(value, key, "must be a pattern in quotes, such as \"HH:mm\" or \"h:mm a\"") }
                guard let problem = Self.problem(withTimeFormat: pattern) else {
                    config.timeFormat = pattern
                    continue
                }
                throw fail(value, key, problem)
            case "keys":
                guard case .table(let table) = value.kind else { throw fail(value, key, "must be a table: [keys]") }
                var overrides: [KeyBindings.Command: [Key]] = [:]
                var seen: [Key: String] = [:]
                for (name, binding) in table.entries {
                    let path = "keys.\(name)"
                    guard let command = KeyBindings.Command(rawValue: name) else {
                        throw fail(binding, path, "unknown command; commands are \(KeyBindings.Command.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    let names: [TOMLValue]
                    switch binding.kind {
                    case .string: names = [binding]
                    case .array(let items): names = items
                    default: throw fail(binding, path, "must be a key such as \"ctrl-n\" or a list of them")
                    }
                    var keys: [Key] = []
                    for item in names {
                        let keyName: String
                        if case .string(let text) = item.kind { keyName = text } else { keyName = "" }
                        guard let parsed = Key(configName: keyName) else {
                            let shown = keyName.isEmpty ? item.typeName : "'\(keyName)'"
                            throw fail(item, path, "unknown key \(shown); write keys like \"ctrl-n\", \"alt-a\", \"alt-enter\", \"pageup\", \"f1\"")
                        }
                        if let other = seen[parsed] { throw fail(item, path, "'\(keyName)' is already bound to \(other)") }
                        seen[parsed] = name
                        keys.append(parsed)
                    }
                    overrides[command] = keys
                }
                config.keys = config.keys.overriding(overrides)
            default:
                throw fail(value, key, "unknown setting; config.toml has theme, bell, title, mouse, notifications, time_format, hyperlinks, pictures and [keys]")
            }
        }
        return config
    }
}
