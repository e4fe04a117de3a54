import Foundation
import Synchronization
import Testing

/// A terminal of the test's own: `parla` runs on a pseudo-terminal whose other end answers
/// its start-up questions as a sixel or kitty terminal does (tmux draws neither) and keeps
/// every byte written, so a test can see the graphics sequences themselves.
final class GraphicsTerminal: Sendable {
    enum Kind { case sixel, kitty }

    private let master: Int32
    private let process: Process
    private let bytes = Mutex<[UInt8]>([])
    private let running = Atomic<Bool>(true)

    init(_ kind: Kind, executable: URL, arguments: [String], environment: [String: String], width: Int = 100, height: Int = 30) throws {
        // /dev/ptmx, unlocked (TIOCSPTLCK), and the number of its other end (TIOCGPTN).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, UInt(0x4004_5431), &unlock) == 0, ioctl(master, UInt(0x8004_5430), &number) == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal"])
        }
        let name = "/dev/pts/\(number)"
        // Cells of 10x20 pixels, as the answer to CSI 16 t says too.
        var size = winsize(ws_row: UInt16(height), ws_col: UInt16(width), ws_xpixel: UInt16(width * 10), ws_ypixel: UInt16(height * 20))
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        let slave = open(name, O_RDWR | O_NOCTTY)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let handle = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        process.standardInput = handle
        process.standardOutput = handle
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.master = master
        self.process = process
        let answers: [(question: String, answer: String)] = [
            ("\u{1B}[6n", "\u{1B}[1;3R"),
            ("\u{1B}[16t", "\u{1B}[6;20;10t"),
            ("\u{1B}[c", kind == .kitty ? "\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[?62;22c" : "\u{1B}[?62;4;22c"),
        ]
        let thread = Thread { [self] in
            var answered = [Int](repeating: 0, count: answers.count)
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while running.load(ordering: .relaxed) {
                var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 50) > 0 else { continue }
                let count = read(master, &buffer, buffer.count)
                guard count > 0 else { break }
                let text = bytes.withLock { all -> String in
                    all += buffer[0..<count]
                    return String(decoding: all.prefix(8_192), as: UTF8.self)
                }
                // Start-up questions come before ncurses starts, in the first few kilobytes.
                for (index, pair) in answers.enumerated() {
                    let asked = text.components(separatedBy: pair.question).count - 1
                    while answered[index] < asked {
                        answered[index] += 1
                        type(pair.answer)
                    }
                }
            }
        }
        thread.start()
    }

    /// Everything written so far, as text.
    var output: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    func type(_ text: String) {
        let data = Array(text.utf8)
        _ = data.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count) }
    }

    func waitFor(_ what: String, timeout: Duration = .seconds(20), _ check: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = output
            if check(text) { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = output
        Issue.record("timed out waiting for \(what); last output: \(String(text.suffix(600)).debugDescription)")
        return text
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        running.store(false, ordering: .relaxed)
        usleep(100_000)
        close(master)
    }
}
