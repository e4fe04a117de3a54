/// A key press (or paste) after the terminal layer decoded escape sequences.
public enum Key: Sendable, Hashable {
    case character(Character)
    case enter, altEnter, tab, backspace, delete, escape
    case up, down, left, right, home, end, pageUp, pageDown
    case altUp, altDown, ctrlUp, ctrlDown, ctrlHome, ctrlEnd
    /// The mouse wheel, one notch.
    case wheelUp, wheelDown
    case ctrl(Character)
    case alt(Character)
    case f1
    /// A bracketed paste: one block, however many lines.
    case paste(String)
}
