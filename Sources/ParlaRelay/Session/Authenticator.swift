import Foundation
import ParlaCrypto
import ParlaProtocol

/// Checks login and registration requests against the connection's challenge. Pure:
/// the caller looks the user up and stores new accounts.
enum Authenticator {
    static func verifyLogin(_ login: ClientFrame.Login, input: SessionStateMachine.AuthStatementInput, signingKey: Data?, now: Int64, allowedSkew: Int64) -> FrameError? {
        guard Validation.isValidName(login.name) else {
            return FrameError(.invalidName, "names are 3-32 characters of a-z 0-9 _ . -")
        }
        guard let signingKey else {
            return FrameError(.unknownUser, "no user named '\(login.name)' on this relay")
        }
        if let error = checkTimestamp(login.timestamp, now: now, allowedSkew: allowedSkew) { return error }
        let statement = AuthStatement(action: .login, relay: input.relay, nonce: input.nonce, name: login.name, timestamp: login.timestamp)
        guard statement.isSigned(by: signingKey, signature: login.signature) else {
            return FrameError(.badSignature, "signature does not match this challenge and the user's key")
        }
        return nil
    }

    static func verifyRegistration(_ register: ClientFrame.Register, input: SessionStateMachine.AuthStatementInput, now: Int64, allowedSkew: Int64) -> FrameError? {
        guard Validation.isValidName(register.name) else {
            return FrameError(.invalidName, "names are 3-32 characters of a-z 0-9 _ . -")
        }
        guard SignatureVerifier.isValidSigningKey(register.signingKey) else {
            return FrameError(.invalidKey, "signingKey must be a 32-byte Ed25519 public key")
        }
        guard SignatureVerifier.isValidAgreementKey(register.agreementKey) else {
            return FrameError(.invalidKey, "agreementKey must be a 32-byte X25519 public key")
        }
        if let error = checkTimestamp(register.timestamp, now: now, allowedSkew: allowedSkew) { return error }
        let statement = AuthStatement(
            action: .register, relay: input.relay, nonce: input.nonce, name: register.name, timestamp: register.timestamp,
            signingKey: register.signingKey, agreementKey: register.agreementKey, invite: register.invite)
        guard statement.isSigned(by: register.signingKey, signature: register.signature) else {
            return FrameError(.badSignature, "signature does not match this challenge and the registered key")
        }
        return nil
    }

    private static func checkTimestamp(_ timestamp: Int64, now: Int64, allowedSkew: Int64) -> FrameError? {
        guard abs(timestamp - now) <= allowedSkew else {
            return FrameError(.staleTimestamp, "signed timestamp is more than \(allowedSkew / 1000) s from the relay clock; check your system clock")
        }
        return nil
    }
}
