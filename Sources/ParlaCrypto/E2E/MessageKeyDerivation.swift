import Crypto
import Foundation

/// HKDF-SHA256 (RFC 5869) for the few bytes every message needs, with the same output as
/// swift-crypto's `HKDF<SHA256>`.
///
/// Every message derives its key and nonce by HKDF and its chain step by two HMACs with one
/// key. swift-crypto's generic HKDF builds its output through `SecureBytes` appends and keys a
/// fresh HMAC for each block, which made key derivation about a quarter of a client's work
/// when draining a mailbox. Here each HMAC is keyed once and copied (its hash state is
/// copy-on-write), and the output is written into one array.
enum MessageKeyDerivation {
    static func hkdf(inputKeyMaterial: Data, salt: Data, info: Data, outputByteCount: Int) -> [UInt8] {
        precondition(outputByteCount <= 255 * SHA256.byteCount, "HKDF-SHA256 gives at most 8,160 bytes")
        let pseudoRandomKey = HMAC<SHA256>.authenticationCode(for: inputKeyMaterial, using: SymmetricKey(data: salt))
        let keyed = HMAC<SHA256>(key: SymmetricKey(data: pseudoRandomKey))
        var output: [UInt8] = []
        output.reserveCapacity(outputByteCount)
        var block: HMAC<SHA256>.MAC?
        var counter: UInt8 = 1
        while output.count < outputByteCount {
            var hmac = keyed
            block?.withUnsafeBytes { hmac.update(data: $0) }
            hmac.update(data: info)
            withUnsafeBytes(of: counter) { hmac.update(data: $0) }
            let next = hmac.finalize()
            next.withUnsafeBytes { output.append(contentsOf: $0.prefix(outputByteCount - output.count)) }
            block = next
            counter &+= 1
        }
        return output
    }

    /// Two HMACs of one key over a single byte each (the chain step's next chain key and message key).
    static func hmacPair(key: Data, _ first: UInt8, _ second: UInt8) -> (Data, Data) {
        let keyed = HMAC<SHA256>(key: SymmetricKey(data: key))
        func mac(_ byte: UInt8) -> Data {
            var hmac = keyed
            withUnsafeBytes(of: byte) { hmac.update(data: $0) }
            return hmac.finalize().withUnsafeBytes { Data($0) }
        }
        return (mac(first), mac(second))
    }
}
