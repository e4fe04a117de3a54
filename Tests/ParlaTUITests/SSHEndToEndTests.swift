import Foundation
@testable import ParlaClient
import ParlaRelayTesting
import Testing

/// An OpenSSH server of the test's own on a loopback port, with throwaway host and
/// client keys, so `parla` can be run the way people really use it: over `ssh -tt`.
struct SSHServer {
    let directory: String
    let port: Int
    let process: BackgroundProcess
    var clientKey: String { directory + "/client_key" }

    static func start() async throws -> SSHServer {
        let sshd = "/usr/sbin/sshd"
        guard FileManager.default.isExecutableFile(atPath: sshd) else {
            throw SSHFailure("OpenSSH server missing: apt-get install -y openssh-server (.ci/run does)")
        }
        let directory = makeTemporaryDirectory(prefix: "parla-sshd")
        for key in ["host_key", "client_key"] {
            let result = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", directory + "/" + key])
            guard result.status == 0 else { throw SSHFailure("ssh-keygen failed: \(result.err)") }
        }
        try FileManager.default.copyItem(atPath: directory + "/client_key.pub", toPath: directory + "/authorized_keys")
        // sshd insists on its privilege-separation directory.
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let port = RelayProcess.freePort()
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(directory)/host_key
            AuthorizedKeysFile \(directory)/authorized_keys
            PidFile \(directory)/sshd.pid
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            StrictModes no
            UsePAM no
            PrintMotd no
            AcceptEnv none

            """.write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
        let process = try BackgroundProcess([sshd, "-D", "-e", "-f", directory + "/sshd_config"], logPath: directory + "/sshd.log")
        let server = SSHServer(directory: directory, port: port, process: process)
        let listening = try await waitUntil(timeout: .seconds(10)) {
            (try? String(contentsOfFile: directory + "/sshd.log", encoding: .utf8))?.contains("listening on") == true || !process.isRunning
        }
        guard listening, process.isRunning else { throw SSHFailure("sshd did not start: \(server.log)") }
        return server
    }

    var log: String { (try? String(contentsOfFile: directory + "/sshd.log", encoding: .utf8)) ?? "" }

    /// The `ssh -tt` command line that runs `remoteCommand` on this server.
    func command(_ remoteCommand: String) -> String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        return "ssh -tt -i \(clientKey) -p \(port) -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
            + "-o BatchMode=yes \(user)@127.0.0.1 '\(remoteCommand)'"
    }

    func stop() {
        process.stop()
    }
}

struct SSHFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite(.serialized) struct SSHEndToEndTests {
    @Test func parlaOverSSHWithLangCAndADroppedConnection() async throws {
        let sshd = try await SSHServer.start()
        defer { sshd.stop() }
        let port = RelayProcess.freePort()
        let data = makeTemporaryDirectory(prefix: "parla-ssh-relay")
        var relay = try await RelayProcess.start(dataDirectory: data, port: port)
        let ui = TmuxEndToEndTests()
        let alice = try await ui.register("alice", url: relay.url)
        let bobProfile = try await ui.register("bob", url: relay.url)

        // The remote side has LANG=C, as many servers do; Parla must switch to C.UTF-8 by itself.
        let binary = try RelayProcess.executable(named: "parla").path
        let config = makeTemporaryDirectory(prefix: "parla-ssh-config")
        let remote = "env -u NO_COLOR -u LC_ALL LANG=C TERM=xterm-256color XDG_CONFIG_HOME=\(config) \(binary) --home \(alice.directory)"
        let tmux = Tmux()
        defer { Task { await tmux.kill() } }
        try await tmux.start(sshd.command(remote) + "; echo SSH-ENDED; sleep 30", width: 100, height: 30)
        try await tmux.waitFor("the UI over SSH", timeout: .seconds(20)) { $0.contains("┌─ Chats") && $0.contains("● online") }
        #expect(try await !tmux.screen().contains("not UTF-8"), "C.UTF-8 was picked up")

        try await tmux.type("/new bob")
        try await tmux.keys("Enter")
        try await tmux.type("via ssh: è 漢字 👋")
        try await tmux.keys("Enter")
        try await tmux.waitFor("sent over SSH") { $0.contains("via ssh: è 漢字 👋") && $0.contains("✓") }

        // Relay down, a message typed meanwhile stays queued; then the SSH link drops.
        await relay.kill()
        try await tmux.waitFor("retry countdown") { $0.contains("retry in") }
        try await tmux.type("typed before the link dropped")
        try await tmux.keys("Enter")
        try await tmux.waitFor("queued") { $0.contains("typed before the link dropped") && $0.contains("1 queued") }
        _ = try await runChildProcess(URL(fileURLWithPath: "/usr/bin/pkill"), ["-KILL", "-f", "^ssh -tt -i \(sshd.clientKey)"])
        try await tmux.waitFor("ssh gone") { $0.contains("SSH-ENDED") }

        // The remote parla got SIGHUP: it must exit (not spin on a dead terminal), leaving the outbox whole.
        let exited = try await waitUntil(timeout: .seconds(3)) {
            try await runChildProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "^\(binary) --home \(alice.directory)"]).status != 0
        }
        #expect(exited, "parla exits when its SSH session hangs up")
        let store = try ClientStore(path: alice.databasePath)
        #expect(try store.outboxCount() == 1)
        #expect(try store.allMessages().contains { $0.text == "typed before the link dropped" && $0.status == .queued })

        // Next start (over SSH again) delivers it.
        relay = try await RelayProcess.start(dataDirectory: data, port: port)
        defer { relay.terminateSoon() }
        try await tmux.run(["respawn-pane", "-k", "-t", tmux.session, sshd.command(remote) + "; echo SSH-ENDED; sleep 30"])
        try await tmux.waitFor("delivered on the next start", timeout: .seconds(30)) { $0.contains("● online") && $0.contains("0 queued") }
        let (bob, bobTask) = try ui.engine(bobProfile)
        defer { bobTask.cancel() }
        try await eventually("bob received both, once each") {
            let texts = try bob.store.allMessages().map(\.text)
            return texts.filter { $0 == "typed before the link dropped" }.count == 1 && texts.contains("via ssh: è 漢字 👋")
        }
        try await tmux.keys("C-q")
        try await tmux.waitFor("clean exit") { $0.contains("SSH-ENDED") }
    }
}
