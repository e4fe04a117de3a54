import Foundation

/// CPU time and resident memory of a process, read from `/proc`, so the relay's cost per
/// message is measured on the relay itself rather than guessed from the outside.
public struct ProcessSample: Sendable {
    public var cpuSeconds: Double
    public var residentBytes: Int

    /// Reads `/proc/PID/stat` (utime + stime) and `/proc/PID/status` (VmRSS).
    public static func read(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var rss = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) {
            rss = (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, residentBytes: rss)
    }

    /// This process (the load generator): CPU from getrusage, memory from `/proc/self`.
    public static func own() -> ProcessSample {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return ProcessSample(cpuSeconds: cpu, residentBytes: read(pid: getpid())?.residentBytes ?? 0)
    }

    /// The process listening on a TCP `port` of this machine: the socket's inode from
    /// `/proc/net/tcp{,6}`, then the process holding a descriptor to it.
    public static func pidListening(onPort port: Int) -> Int32? {
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ")
                // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; inode is column 9.
                guard columns.count > 9, columns[3] == "0A", let local = columns[1].split(separator: ":").last,
                      Int(local, radix: 16) == port else { continue }
                inodes.insert(String(columns[9]))
            }
        }
        guard !inodes.isEmpty, let processes = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in processes {
            guard let pid = Int32(entry), let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            for fd in fds {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(fd)"),
                      target.hasPrefix("socket:[") else { continue }
                if inodes.contains(String(target.dropFirst(8).dropLast())) { return pid }
            }
        }
        return nil
    }

    /// Raises this process's open-file limit to the hard limit (children inherit it), for
    /// benchmarks that hold tens of thousands of sockets.
    @discardableResult
    public static func raiseFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        // Root may lift the hard limit too (up to the kernel's nr_open); otherwise the hard limit is the ceiling.
        let ceiling = (try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8)).flatMap { rlim_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if let ceiling, ceiling > limit.rlim_max {
            var raised = rlimit(rlim_cur: ceiling, rlim_max: ceiling)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(ceiling) }
        }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }
}
