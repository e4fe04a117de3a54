import Foundation
import ParlaProtocol

/// Attachments: uploads, downloads and "I have it" against the relay's `BlobStore`.
extension Session {
    func handleBlob(_ action: SessionStateMachine.Action) async {
        guard let user else { return }
        do {
            switch action {
            case .blobOpen(let open):
                emit(.blobStatus(try await deps.blobs.open(open, owner: user, now: now)))
            case .blobPut(let put):
                emit(.blobStatus(try await deps.blobs.put(put, owner: user)))
            case .blobGet(let get):
                for chunk in try await deps.blobs.get(get, user: user) { emit(.blobChunk(chunk)) }
            case .blobDone(let blob):
                await deps.blobs.done(blob, user: user)
            default:
                return
            }
        } catch BlobStore.Failure.refused(let error) {
            emit(.error(error))
        } catch {
            emit(.error(FrameError(.internalError, "\(error)")))
        }
    }
}
