import Foundation

/// Runs a program to completion without blocking Swift's cooperative threads
/// (on a 2-core machine, two blocked threads would starve an in-process relay).
public func runChildProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) async throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    return try await withCheckedThrowingContinuation { continuation in
        let group = DispatchGroup()
        let outData = DataBox(), errData = DataBox()
        group.enter()
        DispatchQueue.global().async {
            outData.data = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        process.terminationHandler = { _ in group.leave() }
        do {
            try process.run()
        } catch {
            continuation.resume(throwing: error)
            return
        }
        group.notify(queue: .global()) {
            continuation.resume(returning: (process.terminationStatus, String(decoding: outData.data, as: UTF8.self), String(decoding: errData.data, as: UTF8.self)))
        }
    }
}

/// Waits for a process to exit without blocking a cooperative thread.
public func waitForExit(_ process: Process) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().async {
            process.waitUntilExit()
            continuation.resume()
        }
    }
}

/// Written by one reader thread, read after the group is done.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
