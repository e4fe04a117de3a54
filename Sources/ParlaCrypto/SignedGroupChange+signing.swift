import Foundation
import ParlaProtocol

extension SignedGroupChange {
    /// Signs `statement` with the actor's identity key.
    public static func sign(_ statement: GroupStatement, with keys: IdentityKeys) -> SignedGroupChange {
        let bytes = statement.encoded()
        return SignedGroupChange(statement: bytes, signature: keys.sign(GroupStatement.signedBytes(bytes)))
    }

    public func isSigned(by signingKey: Data) -> Bool {
        SignatureVerifier.isValid(signature: signature, of: GroupStatement.signedBytes(statement), publicKey: signingKey)
    }
}
