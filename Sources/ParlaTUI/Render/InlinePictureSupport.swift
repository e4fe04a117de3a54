import Foundation

/// Which pictures this terminal can draw inside the conversation, decided once at start-up
/// from the probe and the converters installed (`InlinePictureSupport.detect`).
public struct InlinePictureSupport: Sendable, Equatable {
    /// File name extensions, lowercased.
    public var extensions: Set<String>
    /// Larger files stay a 📎 line: what is drawn must not keep a slow link busy.
    public var maxBytes: Int

    public init(extensions: Set<String>, maxBytes: Int) {
        self.extensions = extensions
        self.maxBytes = maxBytes
    }

    /// kitty takes PNG as it is (small ones, since all of it is sent) and anything else
    /// through ImageMagick, which also shrinks it first; sixel needs img2sixel, which shrinks,
    /// and the cell size in pixels, so a picture covers exactly the cells kept for it.
    public static func detect(graphics: ImagePreview.Graphics?, cellKnown: Bool) -> InlinePictureSupport? {
        let all: Set<String> = ["png", "jpg", "jpeg", "gif", "webp"]
        switch graphics {
        case .kitty:
            if ImagePreview.executable(named: "convert") != nil { return InlinePictureSupport(extensions: all, maxBytes: 100 << 20) }
            return InlinePictureSupport(extensions: ["png"], maxBytes: InlinePictures.smallPNG)
        case .sixel:
            guard cellKnown, ImagePreview.executable(named: "img2sixel") != nil else { return nil }
            return InlinePictureSupport(extensions: all, maxBytes: 100 << 20)
        case nil:
            return nil
        }
    }
}
