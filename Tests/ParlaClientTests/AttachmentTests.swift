import Foundation
@testable import ParlaClient
import ParlaCrypto
import ParlaProtocol
import ParlaRelayTesting
import Testing

/// Attachments (issue 22), between real clients through a real relay: encrypted on the
/// client, uploaded in chunks that resume, downloaded and checked, deleted from the relay
/// once every recipient has them; too large, over quota or tampered with is said so.
@Suite(.serialized) struct AttachmentTests {
    func json(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    func randomFile(_ directory: String, _ name: String, bytes: Int) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        var data = Data(count: bytes)
        data.withUnsafeMutableBytes { buffer in
            for index in 0..<buffer.count { buffer[index] = UInt8.random(in: 0...255) }
        }
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Where bob's profile keeps the file of message `id`.
    func bobCopy(_ root: String, _ id: String) throws -> String {
        let store = try ClientStore(path: root + "/bob/parla.sqlite")
        return try #require(try store.message(inChat: "alice", id: id)?.attachment?.localPath)
    }

    func blobs(_ relay: TestRelay) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: relay.dataDirectory + "/blobs")) ?? []).filter { $0.hasSuffix(".data") }
    }

    /// The command line, with bob offline while alice sends: the file arrives whole, `save`
    /// prints where it put it, and the relay keeps nothing once he has it.
    @Test func aFileGoesThroughTheRelayAndIsGoneFromItOnceDownloaded() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let root = makeTemporaryDirectory(prefix: "parla-files")
        func parla(_ who: String, _ arguments: String...) async throws -> (status: Int32, out: String, err: String) {
            try await runParla(arguments + ["--home", root + "/" + who])
        }
        for name in ["alice", "bob"] { #expect(try await runParla(["init", name, "--server", relay.url, "--home", root + "/" + name]).status == 0) }
        let photo = try randomFile(root, "holiday photo.jpg", bytes: 700_000)
        let sent = try await parla("alice", "send", "bob", "--file", photo, "--caption", "the view from the top")
        #expect(sent.status == 0 && sent.out.hasPrefix("sent "), "\(sent.err)")
        #expect(blobs(relay).count == 1, "on the relay until bob has it")
        let stored = try Data(contentsOf: URL(fileURLWithPath: relay.dataDirectory + "/blobs/" + blobs(relay)[0]))
        #expect(stored.range(of: try Data(contentsOf: URL(fileURLWithPath: photo)).prefix(64)) == nil, "the relay holds only ciphertext")

        let sync = try await parla("bob", "sync")
        #expect(sync.status == 0 && sync.out.contains("[file holiday photo.jpg, 684 KiB"), "\(sync.out) \(sync.err)")
        #expect(blobs(relay).isEmpty, "downloaded by its only recipient: deleted")
        let bobSide = try json(try await parla("bob", "history", "alice", "--json").out)
        let attachment = try #require(bobSide.last?["attachment"] as? [String: Any])
        #expect(attachment["name"] as? String == "holiday photo.jpg" && attachment["size"] as? Int == 700_000 && attachment["state"] as? String == "downloaded")
        #expect(attachment["sha256"] as? String == (try FileDigest.of(path: photo)))
        #expect(bobSide.last?["text"] as? String == "the view from the top")
        let id = try #require(bobSide.last?["id"] as? String)

        let downloads = makeTemporaryDirectory(prefix: "parla-saved")
        let save = try await parla("bob", "save", id, "--to", downloads)
        #expect(save.status == 0 && save.out.trimmingCharacters(in: .newlines) == downloads + "/holiday photo.jpg", "\(save.err)")
        #expect(FileManager.default.contentsEqual(atPath: photo, andPath: downloads + "/holiday photo.jpg"))
        #expect(try await parla("bob", "save", id, "--to", downloads).out.contains("holiday photo (2).jpg"), "never overwrites")
        let saved = try json(try await parla("bob", "history", "alice", "--json").out).last?["attachment"] as? [String: Any]
        #expect(saved?["savedPath"] as? String == downloads + "/holiday photo (2).jpg")
        let aliceSide = try json(try await parla("alice", "history", "bob", "--json").out).last?["attachment"] as? [String: Any]
        #expect(aliceSide?["state"] as? String == "uploaded" && aliceSide?["savedPath"] as? String == photo)

        // Deleted for everyone: bob's copy in his profile goes with it; what he saved is his.
        let profileCopy = try bobCopy(root, id)
        #expect(FileManager.default.fileExists(atPath: profileCopy))
        #expect(try await parla("alice", "delete", id, "--everyone").status == 0)
        #expect(try await parla("bob", "sync").status == 0)
        #expect(!FileManager.default.fileExists(atPath: profileCopy), "the received copy is deleted with the message")
        #expect(FileManager.default.fileExists(atPath: downloads + "/holiday photo.jpg"))
        #expect(try json(try await parla("bob", "history", "alice", "--json").out).last?["attachment"] == nil)
        #expect(FileManager.default.fileExists(atPath: photo), "the sender's original is never touched")

        // Refused before anything is stored or sent.
        let missing = try await parla("alice", "send", "bob", "--file", root + "/nope.pdf")
        #expect(missing.status != 0 && missing.err.contains("no file at"), "\(missing.err)")
        let huge = root + "/huge.iso"
        FileManager.default.createFile(atPath: huge, contents: nil)
        try FileHandle(forWritingTo: URL(fileURLWithPath: huge)).truncate(atOffset: UInt64(BlobLimits.maxFileBytes + 1))
        let tooBig = try await parla("alice", "send", "bob", "--file", huge)
        #expect(tooBig.status != 0 && tooBig.err.contains("files are limited to 100 MiB"), "\(tooBig.err)")
        let both = try await parla("alice", "send", "bob", "hi", "--file", photo)
        #expect(both.status != 0 && both.err.contains("--caption"))
        let noFile = try await parla("bob", "save", "no-such-id")
        #expect(noFile.status != 0 && noFile.err.contains("no message with id"))
        #expect(blobs(relay).isEmpty)
    }

    /// A group: the file stays on the relay until the last member has it; a long text goes as
    /// a file and arrives as the text.
    @Test func aGroupFileStaysUntilEveryMemberHasItAndLongTextsArriveWhole() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", "carol", on: relay)
        let (alice, bob, carol) = (engines[0], engines[1], engines[2])
        alice.start()
        bob.start()
        for client in [bob, carol] { _ = try await client.client.send("hi", to: "alice") }
        try await eventually("online") { await alice.client.connectionState == .online }
        try await alice.client.createGroup("team", title: "Team", members: ["bob", "carol"])
        try await eventually("bob is in #team") { try bob.store.group("team") != nil }
        let directory = makeTemporaryDirectory(prefix: "parla-group-file")
        let path = try randomFile(directory, "plan.pdf", bytes: 300_000)
        let record = try await alice.client.sendFile(at: path, to: "#team", caption: "the plan")
        try await eventually("bob downloaded it") { try bob.store.message(inChat: "#team", id: record.id)?.attachment?.state == .downloaded }
        #expect(try bob.store.message(inChat: "#team", id: record.id)?.text == "the plan")
        #expect(blobs(relay).count == 1, "carol has not got it yet")
        carol.start()
        try await eventually("carol downloaded it") { try carol.store.message(inChat: "#team", id: record.id)?.attachment?.state == .downloaded }
        let carolCopy = try #require(try carol.store.message(inChat: "#team", id: record.id)?.attachment?.localPath)
        #expect(FileManager.default.contentsEqual(atPath: path, andPath: carolCopy))
        try await eventually("then it is gone from the relay") { blobs(relay).isEmpty }

        let long = String(repeating: "Lorem ipsum dolor sit amet. ", count: 4000)
        let text = try await alice.client.send(long, to: "bob")
        #expect(text.text == long && text.attachment?.longText == true)
        try await eventually("bob has the whole text") { try bob.store.message(inChat: "alice", id: text.id)?.text == long }
        for client in engines { await client.shutdown() }
    }

    /// Every connection is cut after a fraction of a second, shorter than the whole upload
    /// takes: only an upload (and download) that resumes where it stopped gets through.
    @Test func uploadsAndDownloadsResumeAfterDroppedConnections() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let proxy = try await ChaosProxy.start(forwardingTo: relay.port, lifetime: 150...250)
        defer { Task { await proxy.stop() } }
        let aliceProfile = try await TestProfiles.register("alice", url: relay.url)
        let bobProfile = try await TestProfiles.register("bob", url: relay.url)
        let alice = try TestProfiles.engine(for: aliceProfile, server: "ws://127.0.0.1:\(proxy.port)/v1")
        let bob = try TestProfiles.engine(for: bobProfile, server: "ws://127.0.0.1:\(proxy.port)/v1")
        let directory = makeTemporaryDirectory(prefix: "parla-resume")
        let path = try randomFile(directory, "video.mp4", bytes: 8 * 1024 * 1024)
        let record = try await alice.client.sendFile(at: path, to: "bob")
        alice.start()
        bob.start()
        try await eventually(timeout: .seconds(120), "bob has the whole file") {
            try bob.store.message(inChat: "alice", id: record.id)?.attachment?.state == .downloaded
        }
        #expect(proxy.cutsSoFar >= 2, "connections were cut \(proxy.cutsSoFar) times")
        let copy = try #require(try bob.store.message(inChat: "alice", id: record.id)?.attachment?.localPath)
        #expect(FileManager.default.contentsEqual(atPath: path, andPath: copy))
        await alice.shutdown()
        await bob.shutdown()
    }

    /// A relay that changes one byte of a stored file: the recipient gets a clear refusal, not the file.
    @Test func aTamperedFileIsRefused() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", on: relay)
        let (alice, bob) = (engines[0], engines[1])
        alice.start()
        let directory = makeTemporaryDirectory(prefix: "parla-tamper")
        let record = try await alice.client.sendFile(at: try randomFile(directory, "contract.pdf", bytes: 200_000), to: "bob")
        try await eventually("uploaded") { try alice.store.message(inChat: "bob", id: record.id)?.status == .sent }
        let blob = try #require(record.attachment?.blob)

        let data = relay.dataDirectory + "/blobs/\(blob).data"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        bytes[1000] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: data))
        bob.start()
        try await eventually("bob's copy is refused") { try bob.store.message(inChat: "alice", id: record.id)?.attachment?.state == .failed }
        let failure = try bob.store.message(inChat: "alice", id: record.id)?.attachment?.failure ?? ""
        #expect(failure.contains("damaged or changed on the way"), "\(failure)")
        #expect(try !FileManager.default.contentsOfDirectory(atPath: bob.client.profile.directory + "/files").contains { $0.hasSuffix(".part") })
        for client in engines { await client.shutdown() }
    }

    /// Over the relay's per-user quota the upload is refused, and the message says why.
    @Test func aFileOverTheQuotaFailsWithTheReason() async throws {
        let relay = try await TestRelay.start { $0.blobQuotaBytes = 1 << 20 }
        defer { Task { await relay.stop() } }
        let engines = try await TestProfiles.engines("alice", "bob", on: relay)
        let alice = engines[0]
        alice.start()
        let directory = makeTemporaryDirectory(prefix: "parla-quota")
        let record = try await alice.client.sendFile(at: try randomFile(directory, "big.bin", bytes: 2 << 20), to: "bob")
        try await eventually("refused") { try alice.store.message(inChat: "bob", id: record.id)?.status == .failed }
        #expect(try alice.store.message(inChat: "bob", id: record.id)?.failureReason?.contains("the limit is 1 MiB") == true)
        #expect(blobs(relay).isEmpty)
        for client in engines { await client.shutdown() }
    }
}
