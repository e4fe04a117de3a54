import Foundation

/// Finds themes by name: the built-in `default` and `mono`, the shipped
/// `themes/*.toml`, then the user's `~/.config/parla/themes/*.toml`, later
/// directories overriding earlier ones.
public struct ThemeCatalog: Sendable {
    public var directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    /// The shipped themes next to the program, then the user's.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> ThemeCatalog {
        var directories: [String] = []
        if let shipped = shippedThemesDirectory(environment: environment) { directories.append(shipped) }
        directories.append((ConfigPaths.directory(environment: environment) as NSString).appendingPathComponent("themes"))
        return ThemeCatalog(directories: directories)
    }

    /// `$PARLA_THEMES_DIR`, else `themes/` or `share/parla/themes/` in a folder above the executable
    /// (covers `swift run`, `.build/debug/parla` and an installed `bin/parla`).
    static func shippedThemesDirectory(environment: [String: String]) -> String? {
        if let explicit = environment["PARLA_THEMES_DIR"], !explicit.isEmpty { return explicit }
        guard let executable = Bundle.main.executablePath else { return nil }
        var folder = ((executable as NSString).resolvingSymlinksInPath as NSString).deletingLastPathComponent
        for _ in 0..<6 {
            for candidate in ["themes", "share/parla/themes"] {
                let path = (folder as NSString).appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("default.toml")) { return path }
            }
            let parent = (folder as NSString).deletingLastPathComponent
            if parent == folder { break }
            folder = parent
        }
        return nil
    }

    /// Every theme name on offer, sorted.
    public func names() -> [String] {
        var names: Set<String> = ["default", "mono"]
        for directory in directories {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for file in files where file.hasSuffix(".toml") { names.insert(String(file.dropLast(5))) }
        }
        return names.sorted()
    }

    /// The file that defines `name`, if any (the last directory wins).
    public func file(for name: String) -> String? {
        for directory in directories.reversed() {
            let path = (directory as NSString).appendingPathComponent("\(name).toml")
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// Loads `name`. Built-in `default` and `mono` work even when no file exists.
    public func load(_ name: String) throws(ThemeError) -> Theme {
        do {
            guard let theme = try resolve(name, depth: 0) else { throw ThemeError.notFound(name: name, available: names()) }
            return theme
        } catch let error as ThemeError {
            throw error
        } catch let error as TOMLError {
            throw ThemeError.invalid(error)
        } catch {
            throw ThemeError.invalid(TOMLError(file: name, line: 0, message: "\(error)"))
        }
    }

    private func resolve(_ name: String, depth: Int) throws(TOMLError) -> Theme? {
        guard let path = file(for: name) else {
            switch name {
            case "default": return .default
            case "mono": return .mono
            default: return nil
            }
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw TOMLError(file: path, line: 0, message: "cannot be read as UTF-8 text")
        }
        return try Theme.parse(text, name: name, file: path) { base throws(TOMLError) in
            guard depth < 8, base != name else {
                throw TOMLError(file: path, line: 0, message: "key 'base': themes form a loop through '\(base)'")
            }
            return try resolve(base, depth: depth + 1)
        }
    }
}

/// Why a theme could not be used.
public enum ThemeError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(name: String, available: [String])
    case invalid(TOMLError)

    public var description: String {
        switch self {
        case .notFound(let name, let available): "no theme named '\(name)'; available: \(available.joined(separator: ", "))"
        case .invalid(let error): "\(error)"
        }
    }
}

/// Where Parla's user configuration lives: `$XDG_CONFIG_HOME/parla`, else `~/.config/parla`.
public enum ConfigPaths {
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return (xdg as NSString).appendingPathComponent("parla") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".config/parla")
    }
}
