import Crypto
import Foundation

/// The X3DH key agreement (Signal's specification), over X25519 and HKDF-SHA256.
/// Identity DH keys are the registration agreement keys; the Ed25519 identity keys
/// sign the signed prekey and are bound into the associated data.
public enum X3DH {
    /// What the initiator learns and must send along with the first message.
    public struct InitiatorResult: Sendable, Equatable {
        public var sharedKey: Data
        public var associatedData: Data
        public var ephemeralPublicKey: Data
        public var signedPreKeyID: UInt32
        public var oneTimePreKeyID: UInt32?
    }

    static let info = Data("parla-x3dh-v1".utf8)

    /// Alice's side: checks Bob's bundle, then derives SK from DH1..DH4.
    public static func initiate(identity: IdentityKeys, bundle: PreKeyBundle, ephemeral: AgreementKeyPair = AgreementKeyPair()) throws(E2EError) -> InitiatorResult {
        try bundle.verify()
        let identityPair = identity.agreementPair
        var material = try identityPair.agree(with: bundle.signedPreKey)
        material += try ephemeral.agree(with: bundle.identityAgreementKey)
        material += try ephemeral.agree(with: bundle.signedPreKey)
        if let oneTime = bundle.oneTimePreKey { material += try ephemeral.agree(with: oneTime) }
        return InitiatorResult(
            sharedKey: derive(material),
            associatedData: associatedData(initiatorSigning: identity.signingPublic, initiatorAgreement: identity.agreementPublic,
                                           responderSigning: bundle.identitySigningKey, responderAgreement: bundle.identityAgreementKey),
            ephemeralPublicKey: ephemeral.publicKey, signedPreKeyID: bundle.signedPreKeyID, oneTimePreKeyID: bundle.oneTimePreKeyID)
    }

    /// Bob's side, from the initiator's identity and ephemeral keys and his own prekeys.
    public static func respond(identity: IdentityKeys, signedPreKey: AgreementKeyPair, oneTimePreKey: AgreementKeyPair?,
                               initiatorSigningKey: Data, initiatorAgreementKey: Data, ephemeralKey: Data) throws(E2EError) -> (sharedKey: Data, associatedData: Data) {
        var material = try signedPreKey.agree(with: initiatorAgreementKey)
        material += try identity.agreementPair.agree(with: ephemeralKey)
        material += try signedPreKey.agree(with: ephemeralKey)
        if let oneTimePreKey { material += try oneTimePreKey.agree(with: ephemeralKey) }
        return (derive(material), associatedData(initiatorSigning: initiatorSigningKey, initiatorAgreement: initiatorAgreementKey,
                                                 responderSigning: identity.signingPublic, responderAgreement: identity.agreementPublic))
    }

    /// SK = HKDF(F || DH1 || DH2 || DH3 [|| DH4]), F = 32 bytes of 0xFF, salt = 32 zero bytes.
    static func derive(_ material: Data) -> Data {
        let input = Data(repeating: 0xFF, count: 32) + material
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: input), salt: Data(repeating: 0, count: 32), info: info, outputByteCount: 32)
        return key.withUnsafeBytes { Data($0) }
    }

    /// AD = label || initiator's identity keys || responder's identity keys.
    public static func associatedData(initiatorSigning: Data, initiatorAgreement: Data, responderSigning: Data, responderAgreement: Data) -> Data {
        Data("parla-ad-v1".utf8) + initiatorSigning + initiatorAgreement + responderSigning + responderAgreement
    }
}
