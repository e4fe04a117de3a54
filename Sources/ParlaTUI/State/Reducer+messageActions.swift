import ParlaClient

/// `/reply`, `/edit`, `/react` and `/delete` on the message selected with Ctrl-Up (or, where
/// that is what people mean, the newest one).
extension Reducer {
    static let selectionHint = "selected: /reply TEXT · /react EMOJI · /edit · /delete [everyone] · Esc: none"

    static func messageCommand(_ state: inout AppState, _ name: String, _ argument: String) -> [AppEffect] {
        guard let chat = state.selectedChat else {
            state.notice = "no chat selected: open one with /new NAME"
            return []
        }
        let selected = state.conversation.first { $0.localID == state.highlighted }
        switch name {
        case "reply":
            guard let target = selected, target.deleted == nil else {
                state.notice = "/reply TEXT answers the selected message: select it with Ctrl-Up first"
                return []
            }
            guard !argument.isEmpty else {
                state.notice = "usage: /reply TEXT (answers the selected message)"
                return []
            }
            state.highlighted = nil
            return [.reply(text: argument, to: chat, replyTo: target.id)]
        case "edit":
            let me = state.me
            let own = { (m: MessageRecord) in m.from == me && m.isOutgoing && m.deleted == nil && m.status != .failed }
            if let selected, !own(selected) {
                state.notice = "only your own messages can be edited"
                return []
            }
            guard let target = selected ?? state.conversation.last(where: own) else {
                state.notice = "nothing of yours to edit here"
                return []
            }
            guard !argument.isEmpty else {
                // The old text in the input line, to change and send with Enter.
                state.editor.replace(with: "/edit " + target.text)
                state.highlighted = target.localID
                return []
            }
            state.highlighted = nil
            return [.changeMessage(chat: chat, id: target.id, .edit(argument))]
        case "react":
            let me = state.me
            guard let target = selected ?? state.conversation.last(where: { $0.from != me && $0.from != ClientStore.systemSender && $0.deleted == nil }) else {
                state.notice = "/react EMOJI reacts to the selected (Ctrl-Up) or newest message; there is none here"
                return []
            }
            guard target.deleted == nil else {
                state.notice = "that message was deleted"
                return []
            }
            state.highlighted = nil
            return [.changeMessage(chat: chat, id: target.id, .react(argument))]
        default:
            // "delete": the selected message here, or with "everyone" (ours) on every side.
            guard let target = selected else {
                state.notice = "/delete [everyone] deletes the selected message: select it with Ctrl-Up first"
                return []
            }
            let everyone = argument == "everyone"
            guard argument.isEmpty || everyone else {
                state.notice = "usage: /delete (here only) or /delete everyone (your own message, on every side)"
                return []
            }
            if everyone, target.from != state.me || !target.isOutgoing {
                state.notice = "only your own messages can be deleted for everyone; /delete removes it here"
                return []
            }
            state.highlighted = nil
            return [.changeMessage(chat: chat, id: target.id, .delete(everyone: everyone))]
        }
    }
}
