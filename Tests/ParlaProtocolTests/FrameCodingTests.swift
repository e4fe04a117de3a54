import Foundation
import ParlaCrypto
@testable import ParlaProtocol
import Testing

@Suite struct FrameCodingTests {
    @Test func clientFramesRoundTrip() throws {
        let frames: [ClientFrame] = [
            .register(.init(name: "alice", signingKey: Data(repeating: 1, count: 32), agreementKey: Data(repeating: 2, count: 32), timestamp: 1_700_000_000_000, signature: Data(repeating: 3, count: 64), invite: "abc")),
            .login(.init(name: "bob", timestamp: 42, signature: Data([9, 8, 7]))),
            .send(.init(id: "m-1", to: "bob", body: Data("ciao 👋".utf8))),
            .confirm(.init(ids: ["a", "b"])),
            .read(.init(id: "r1", to: "alice", messageIds: ["m-1"])),
            .typing(.init(to: "bob")),
            .getKeys(.init(name: "carol")),
        ]
        for frame in frames {
            #expect(try ClientFrame.decode(frame.encoded()) == frame)
        }
    }

    @Test func relayFramesRoundTrip() throws {
        let frames: [RelayFrame] = [
            .challenge(.init(relay: "relay-x", nonce: Data(repeating: 5, count: 32), time: 7)),
            .welcome(.init(name: "alice", time: 8)),
            .error(FrameError(.mailboxFull, "full", ref: "m-1")),
            .ack(id: "m-1"),
            .ackDelivered(id: "m-2", at: 1_795_000_000_321),
            .message(.init(id: "m-1", from: "alice", body: Data([0, 255]), sentAt: 9)),
            .receipt(.init(id: "r-1", kind: .delivered, from: "bob", messageIds: ["m-1", "m-2"], at: 10)),
            .queueEmpty,
            .keys(.init(name: "bob", signingKey: Data(repeating: 1, count: 32), agreementKey: Data(repeating: 2, count: 32))),
            .typing(from: "bob"),
            .presence(.init(user: "bob", online: false, lastSeen: 11)),
        ]
        for frame in frames {
            #expect(try RelayFrame.decode(frame.encoded()) == frame)
        }
    }

    @Test func handWrittenFramesMatchTheEncoderByteForByte() throws {
        let frames: [RelayFrame] = [
            .ack(id: "a1:2:3"),
            .message(.init(id: "m-1", from: "alice", body: Data((0..<300).map { UInt8($0 % 256) }), sentAt: 1_795_000_000_123)),
            .message(.init(id: "x", from: "bob.b-1_2", body: Data(), sentAt: 0)),
            .ack(id: "needs \"escaping\""),
            .ackDelivered(id: "a1:2:3", at: 1_795_000_000_777),
            .ackDelivered(id: "needs \"escaping\"", at: 0),
            .receipt(.init(id: "r-5b1c", kind: .delivered, from: "bob", messageIds: ["m-1", "a1:2:3", "x/y"], at: 1_795_000_000_500)),
            .receipt(.init(id: "r-2", kind: .read, from: "carol", messageIds: [], at: 0)),
            .receipt(.init(id: "r-3", kind: .expired, from: "dave", messageIds: ["one \"quoted\""], at: -1)),
            .receipt(.init(id: "r-\(UInt64.max)", kind: .delivered, from: "a-rather-long-user-name",
                           messageIds: (0..<256).map { "\($0):" + String(repeating: "x", count: $0 % 40) }, at: Int64.min)),
            .receipt(.init(id: "r-4", kind: .read, from: "e", messageIds: ["only"], at: Int64.max)),
        ]
        for frame in frames {
            #expect(frame.encoded() == frame.encodedByEncoder())
            #expect(try RelayFrame.decode(frame.encoded()) == frame)
        }
    }

    /// The `message` frame is written byte by byte (base64 and numbers included): every body
    /// length's padding, a body that is a slice of a larger buffer, and the extreme timestamps.
    @Test func handWrittenMessageFramesMatchTheEncoderForEveryPaddingAndNumber() throws {
        var generator = SystemRandomNumberGenerator()
        let backing = Data((0..<1_200).map { _ in UInt8.random(in: 0...255, using: &generator) })
        var bodies = (0..<12).map { Data(backing.prefix($0)) } + [Data(backing.prefix(255)), Data(backing.prefix(256)), backing]
        bodies.append(backing[7..<100])
        let times: [Int64] = [0, 7, 10, 99, 1_795_000_000_123, -1, -10, .max, .min]
        for (index, body) in bodies.enumerated() {
            let frame = RelayFrame.message(.init(id: "m-\(index)", from: "alice", body: body, sentAt: times[index % times.count]))
            #expect(frame.encoded() == frame.encodedByEncoder(), "body of \(body.count) bytes")
            #expect(try RelayFrame.decode(frame.encoded()) == frame)
        }
        for time in times {
            let frame = RelayFrame.message(.init(id: "t", from: "bob", body: Data([1, 2]), sentAt: time))
            #expect(frame.encoded() == frame.encodedByEncoder(), "sentAt \(time)")
            let ack = RelayFrame.ackDelivered(id: "a-\(time)", at: time)
            #expect(ack.encoded() == ack.encodedByEncoder(), "delivered at \(time)")
        }
    }

    /// The byte-level decoder for `send` and `confirm` gives exactly what the full decoder
    /// gives, and leaves everything it does not take (escapes, other keys, bad values,
    /// duplicates) to the full decoder, errors included.
    @Test func theHotDecoderAgreesWithTheFullDecoder() throws {
        let body = Data((0..<200).map { UInt8($0) }).base64EncodedString()
        let taken = [
            #"{"type":"send","id":"m1","to":"bob","body":"\#(body)"}"#,
            #" { "body" : "\#(body)" ,"to":"bob", "id":"a:1:2", "type":"send" } "#,
            #"{"type":"send","id":"ü-😀","to":"bob","body":""}"#,
            #"{"type":"confirm","ids":["a","b","c"]}"#,
            #"{"ids":[ ],"type":"confirm"}"#,
        ]
        for text in taken {
            let hot = try #require(HotFrameDecoder.decode(text), "\(text)")
            #expect(hot == (try ClientFrame.decodedByDecoder(text)), "\(text)")
        }
        let leftToTheDecoder = [
            #"{"type":"send","id":"m\"1","to":"bob","body":"AA=="}"#,
            #"{"type":"send","id":"m1","to":"bob","body":"not base64!"}"#,
            #"{"type":"send","id":"m1","to":"bob"}"#,
            #"{"type":"send","id":"m1","id":"m2","to":"bob","body":"AA=="}"#,
            #"{"type":"send","id":1,"to":"bob","body":"AA=="}"#,
            #"{"type":"send","id":"m1","to":"bob","body":"AA==","extra":true}"#,
            #"{"type":"confirm","ids":["a",1]}"#,
            #"{"type":"confirm","ids":"a"}"#,
            #"{"type":"typing","to":"bob"}"#,
            #"{"type":"confirm","ids":["a"]} trailing"#,
            #"{"type":"confirm","ids":["a"]"#,
            "{\"type\":\"send\",\"id\":\"m\u{1}\",\"to\":\"bob\",\"body\":\"AA==\"}",
        ]
        for text in leftToTheDecoder {
            #expect(HotFrameDecoder.decode(text) == nil, "\(text)")
            let viaDecode = Result { () throws(FrameError) in try ClientFrame.decode(text) }
            let viaDecoder = Result { () throws(FrameError) in try ClientFrame.decodedByDecoder(text) }
            #expect(String(describing: viaDecode) == String(describing: viaDecoder), "\(text)")
        }
    }

    /// The same for the relay frames a client gets most: `message` and `ack`.
    @Test func theHotRelayFrameDecoderAgreesWithTheFullDecoder() throws {
        let body = Data((0..<200).map { UInt8($0) }).base64EncodedString()
        let taken = [
            #"{"body":"\#(body)","from":"alice","id":"m1","sentAt":1795000000123,"type":"message"}"#,
            #" { "type" : "message", "id":"ü-😀", "from":"bob.b-1_2", "body":"", "sentAt": 0, "group":"team" } "#,
            #"{"body":"AA==","from":"a","id":"x","sentAt":-5,"type":"message"}"#,
            #"{"id":"a1:2:3","type":"ack"}"#,
            #"{"delivered":1795000000777,"id":"a1:2:3","type":"ack"}"#,
            #"{"type":"ack","delivered":0,"id":"z"}"#,
        ]
        for text in taken {
            let hot = try #require(HotFrameDecoder.decodeRelayFrame(text), "\(text)")
            #expect(hot == (try RelayFrame.decodedByDecoder(text)), "\(text)")
        }
        let leftToTheDecoder = [
            #"{"body":"AA==","from":"a\"b","id":"m1","sentAt":1,"type":"message"}"#,
            #"{"body":"not base64!","from":"a","id":"m1","sentAt":1,"type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","sentAt":1.5,"type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","sentAt":1e3,"type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","sentAt":01,"type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","sentAt":"1","type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","sentAt":99999999999999999999,"type":"message"}"#,
            #"{"body":"AA==","from":"a","id":"m1","sentAt":1,"type":"message","future":true}"#,
            #"{"id":"a","id":"b","type":"ack"}"#,
            #"{"delivered":null,"id":"a","type":"ack"}"#,
            #"{"delivered":-,"id":"a","type":"ack"}"#,
            #"{"id":"a","type":"ack","from":"x"}"#,
            #"{"type":"queueEmpty"}"#,
            #"{"id":"a","type":"ack"} trailing"#,
            "{\"id\":\"a\u{1}\",\"type\":\"ack\"}",
        ]
        for text in leftToTheDecoder {
            #expect(HotFrameDecoder.decodeRelayFrame(text) == nil, "\(text)")
            let viaDecode = Result { () throws(FrameError) in try RelayFrame.decode(text) }
            let viaDecoder = Result { () throws(FrameError) in try RelayFrame.decodedByDecoder(text) }
            #expect(String(describing: viaDecode) == String(describing: viaDecoder), "\(text)")
        }
    }

    @Test func unknownFieldsAreIgnored() throws {
        let frame = try ClientFrame.decode(#"{"type":"typing","to":"bob","future":{"x":1}}"#)
        #expect(frame == .typing(.init(to: "bob")))
    }

    @Test(arguments: [
        ("not json", ErrorCode.badJSON),
        ("[1,2]", .badFrame),
        (#"{"to":"bob"}"#, .badFrame),
        (#"{"type":"warp"}"#, .unknownType),
        (#"{"type":"send","id":"x","to":"bob"}"#, .badFrame),
        (#"{"type":"send","id":"x","to":7,"body":""}"#, .badFrame),
        (#"{"type":"send","id":"x","to":"bob","body":"%%%"}"#, .badBase64),
        (#"{"type":"confirm","ids":"a"}"#, .badFrame),
        (#"{"type":"login","version":"1","name":"a","timestamp":1,"signature":""}"#, .badFrame),
    ])
    func malformedInputGetsTheRightCode(input: String, code: ErrorCode) {
        #expect(throws: FrameError.self) { try ClientFrame.decode(input) }
        do {
            _ = try ClientFrame.decode(input)
        } catch {
            #expect(error.code == code, "\(input) -> \(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func sendErrorsCarryTheMessageIdAsRef() {
        do {
            _ = try ClientFrame.decode(#"{"type":"send","id":"m-9","to":"bob","body":"!!"}"#)
            Issue.record("expected an error")
        } catch {
            #expect(error.ref == "m-9")
            #expect(error.message.contains("body"))
        }
    }

    @Test func nameRules() {
        #expect(Validation.isValidName("alice"))
        #expect(Validation.isValidName("a_b.c-9"))
        #expect(!Validation.isValidName("al"))
        #expect(!Validation.isValidName(String(repeating: "a", count: 33)))
        #expect(!Validation.isValidName("Alice"))
        #expect(!Validation.isValidName("al ice"))
        #expect(!Validation.isValidName("àlice"))
    }

    @Test func idRules() {
        #expect(Validation.isValidID("0f8e-AB_c.d:1"))
        #expect(!Validation.isValidID(""))
        #expect(!Validation.isValidID(String(repeating: "x", count: 65)))
        #expect(!Validation.isValidID("a b"))
    }
}

@Suite struct AuthStatementTests {
    @Test func signatureVerifiesOnlyForTheSameStatement() {
        let keys = IdentityKeys()
        let statement = AuthStatement(action: .login, relay: "relay-1", nonce: Data(repeating: 1, count: 32), name: "alice", timestamp: 1000)
        let signature = statement.signed(with: keys)
        #expect(statement.isSigned(by: keys.signingPublic, signature: signature))

        var otherRelay = statement
        otherRelay.relay = "relay-2"
        #expect(!otherRelay.isSigned(by: keys.signingPublic, signature: signature))
        var otherNonce = statement
        otherNonce.nonce = Data(repeating: 2, count: 32)
        #expect(!otherNonce.isSigned(by: keys.signingPublic, signature: signature))
        var otherTime = statement
        otherTime.timestamp = 1001
        #expect(!otherTime.isSigned(by: keys.signingPublic, signature: signature))
        #expect(!statement.isSigned(by: IdentityKeys().signingPublic, signature: signature))
    }

    @Test func statementBytesAreExact() {
        let statement = AuthStatement(action: .register, relay: "relay-1", nonce: Data([1, 2, 3]), name: "bob", timestamp: 5,
                                      signingKey: Data([4]), agreementKey: Data([5]), invite: nil)
        #expect(String(decoding: statement.bytes, as: UTF8.self) == "parla-auth-v1\nregister\nrelay-1\nAQID\nbob\n5\nBA==\nBQ==\n")
    }

    @Test func keysSurviveARoundTripThroughTheirBytes() throws {
        let keys = IdentityKeys()
        let restored = try IdentityKeys(signingPrivate: keys.signingPrivate, agreementPrivate: keys.agreementPrivate)
        #expect(restored.signingPublic == keys.signingPublic)
        #expect(throws: CryptoFailure.self) { try IdentityKeys(signingPrivate: Data([1]), agreementPrivate: Data([2])) }
    }
}
