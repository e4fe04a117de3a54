import Foundation
import Logging
import ParlaClient
import ParlaProtocol
import Synchronization

/// Runs the full-screen UI for one engine: a dedicated thread owns ncurses and
/// turns keys, engine events and timers into actions for `Reducer`; effects go to
/// the engine as tasks whose results come back as actions.
public final class TUIApp: Sendable {
    private let client: ParlaClient
    private let theme: Theme
    private let widths: DisplayWidth
    private let config: AppConfig
    private let catalog: ThemeCatalog
    private let startupNotice: String?
    private let logger: Logger
    private let inbox = Mutex<[AppAction]>([])
    private let quitRequested = Atomic<Bool>(false)
    private let mentionBellRequested = Atomic<Bool>(false)
    private let notifications = Mutex<[Notification]>([])
    /// A theme chosen with `/theme`, for the UI thread to apply.
    private let pendingTheme = Mutex<Theme?>(nil)
    /// Which pictures the terminal draws (probed before ncurses starts).
    private let graphics: ImagePreview.Graphics?
    /// A cell's size in pixels, if the terminal told (sixel pictures need it).
    private let cell: (width: Int, height: Int)?
    /// A picture inside the conversation became ready to draw.
    private let pictureReady = Atomic<Bool>(false)
    /// A picture's escape sequence, for the UI thread to write once the empty screen is drawn.
    private let pendingPicture = Mutex<String?>(nil)
    /// The picture is closed: the UI thread takes it off (kitty keeps it until told) and repaints.
    private let clearPicture = Atomic<Bool>(false)
    private let forceRedrawRequested = Atomic<Bool>(false)
    /// The screen's size as last drawn, for effects that need it.
    private let screenSize = Mutex<(width: Int, height: Int)>((80, 24))
    private static let signalled = Atomic<Int32>(0)
    /// Messages loaded per page: a screenful many times over, never the whole history.
    public static let pageSize = 200

    /// `startupNotice` is shown in the status line first (e.g. a broken config file).
    public init(client: ParlaClient, theme: Theme, widths: DisplayWidth, config: AppConfig = AppConfig(),
                catalog: ThemeCatalog = .standard(), startupNotice: String? = nil, graphics: ImagePreview.Graphics? = nil, cell: (width: Int, height: Int)? = nil, logger: Logger) {
        self.graphics = graphics
        self.cell = cell
        self.client = client
        self.theme = theme
        self.widths = widths
        self.config = config
        self.catalog = catalog
        self.startupNotice = startupNotice
        self.logger = logger
    }

    /// Runs until the user quits or a SIGTERM/SIGHUP/SIGINT arrives; the terminal is restored either way.
    public func run() async {
        let engine = Task { await client.run() }
        let events = Task { [client] in
            for await event in client.events { self.post(.engine(event)) }
        }
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            signal(sig) { number in TUIApp.signalled.store(number, ordering: .relaxed) }
        }
        perform(.loadChats)
        post(.themesAvailable(catalog.names()))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                uiLoop()
                done.resume()
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        engine.cancel()
        events.cancel()
        // Quitting never hangs on the network: everything that matters is already on disk.
        let stopped = ResumeOnce()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Task {
                await engine.value
                if stopped.claim() { done.resume() }
            }
            Task {
                try? await Task.sleep(for: .seconds(2))
                if stopped.claim() {
                    self.logger.warning("the engine did not stop within 2 s of quitting; leaving anyway")
                    done.resume()
                }
            }
        }
    }

    private func post(_ action: AppAction) {
        inbox.withLock { $0.append(action) }
    }

    private func uiLoop() {
        // This thread was started from a Swift task, whose thread blocks every signal.
        // Unblock the ones the UI lives by (hang-up, quit, resize), or an SSH hang-up
        // or a window resize would never reach the process.
        var wanted = sigset_t()
        sigemptyset(&wanted)
        for sig in [SIGHUP, SIGTERM, SIGINT, SIGWINCH] { sigaddset(&wanted, sig) }
        pthread_sigmask(SIG_UNBLOCK, &wanted, nil)
        let terminal = Terminal()
        terminal.start(mouse: config.mouse)
        defer { terminal.stop() }
        var theme = self.theme
        if !terminal.isUTF8 { theme.ascii = true }
        terminal.apply(theme: theme)
        let support = config.pictures ? InlinePictureSupport.detect(graphics: graphics, cellKnown: cell != nil) : nil
        let renderer = Renderer(widths: widths, timeFormat: config.timeFormat, hyperlinks: config.hyperlinks, inlinePictures: support)
        let pictures = graphics.flatMap { graphics in
            support.map { _ in
                InlinePictures(graphics: graphics, cell: cell) { undrawable in
                    if let undrawable { self.post(.pictureUndrawable(path: undrawable)) } else { self.pictureReady.store(true, ordering: .relaxed) }
                }
            }
        }
        defer { if graphics == .kitty { terminal.writeRaw("\u{1B}_Ga=d,d=A,q=2\u{1B}\\") } }
        let notifier = Notifier(style: config.notifications == .auto ? Notifier.detect() : config.notifications)
        var state = AppState(me: client.profile.name)
        state.bindings = config.keys
        // Drafts and input history from the last run, before anything is typed.
        let store = client.store
        _ = Reducer.reduce(&state, .inputRestored(drafts: (try? store.drafts()) ?? [:], history: (try? store.inputHistory()) ?? []))
        state.notice = startupNotice
        if !terminal.isUTF8 { state.notice = "terminal locale is not UTF-8: showing ASCII" }
        var shownTitle: String?
        var firstPaintLogged = false
        let started = Monotonic.nanoseconds()
        var decoder = KeyDecoder()
        var lastFrame: ScreenBuffer?
        var lastCursor: (x: Int, y: Int)?
        var renderAgain = false
        var lastTick = Date()
        var lastActivity = Date()
        while !quitRequested.load(ordering: .relaxed), TUIApp.signalled.load(ordering: .relaxed) == 0 {
            // Just after activity, answers from the engine (a page, the chat list) are due:
            // poll briefly so they show at once; when idle, wait longer to use no CPU.
            let busy = Date().timeIntervalSince(lastActivity) < 0.5
            let (inputs, resized) = terminal.readInputs(waitMilliseconds: busy ? 3 : 30)
            var actions = inbox.withLock { actions -> [AppAction] in
                defer { actions = [] }
                return actions
            }
            var redraw = resized
            for key in decoder.decode(inputs) {
                if state.overlay == .none, !state.confirmingQuit, state.bindings.command(for: key) == .redraw {
                    terminal.forceRedraw()
                    redraw = true
                } else {
                    actions.append(.key(key))
                }
            }
            let now = Date()
            if now.timeIntervalSince(lastTick) >= 1 {
                lastTick = now
                actions.append(.tick(now))
                Task { [client] in self.post(.queuedCount(await client.outboxCount())) }
            }
            if !inputs.isEmpty { lastActivity = Date() }
            for action in actions {
                let effects = Reducer.reduce(&state, action)
                if !effects.isEmpty { lastActivity = Date() }
                for effect in effects {
                    perform(effect)
                }
            }
            let batch = notifications.withLock { pending -> [Notification] in defer { pending = [] }; return pending }
            // A mention rings even when the bell is off for ordinary messages.
            if mentionBellRequested.exchange(false, ordering: .relaxed) {
                terminal.bell()
                if notifier.style != .bell { notifier.notify(batch, bell: false, terminal: terminal) }
            } else {
                notifier.notify(batch, bell: config.bell, terminal: terminal)
            }
            if let chosen = pendingTheme.withLock({ pending -> Theme? in defer { pending = nil }; return pending }) {
                theme = chosen
                if !terminal.isUTF8 { theme.ascii = true }
                terminal.apply(theme: theme)
                terminal.forceRedraw()
                redraw = true
            }
            if config.title {
                let title = state.totalUnread > 0 ? "(\(state.totalUnread)) Parla" : "Parla"
                if title != shownTitle {
                    terminal.setTitle(title)
                    shownTitle = title
                }
            }
            if clearPicture.exchange(false, ordering: .relaxed) { terminal.writeRaw(ImagePreview.kittyClear) }
            if forceRedrawRequested.exchange(false, ordering: .relaxed) {
                terminal.forceRedraw()
                redraw = true
            }
            let picturesChanged = pictureReady.exchange(false, ordering: .relaxed)
            // Nothing happened: nothing to draw (keeps an idle UI near 0% CPU).
            guard redraw || !actions.isEmpty || lastFrame == nil || renderAgain || picturesChanged else { continue }
            renderAgain = false
            let (width, height) = terminal.size
            screenSize.withLock { $0 = (width, height) }
            let (frame, viewport) = renderer.frame(state, width: width, height: height, theme: theme)
            if viewport != state.viewport {
                // The reducer pages and bounds scrolling by what was drawn.
                for effect in Reducer.reduce(&state, .viewport(viewport)) { perform(effect) }
                renderAgain = true
            }
            let cursor = renderer.inputCursor(state, width: width, height: height)
            // The cursor moving (Ctrl-A, Left) is a change even when no text did.
            if redraw || frame != lastFrame || cursor?.x != lastCursor?.x || cursor?.y != lastCursor?.y || picturesChanged {
                terminal.draw(frame, cursor: cursor)
                lastFrame = frame
                lastCursor = cursor
                if let pictures {
                    let update = pictures.update(frame.pictures, screenCleared: redraw)
                    if update.repaintFirst { terminal.repaintAll() }
                    terminal.writeOver(update.output)
                }
                if state.overlay == .preview, let picture = pendingPicture.withLock({ pending -> String? in defer { pending = nil }; return pending }) {
                    // Over the empty screen just drawn, from its top-left corner.
                    terminal.writeRaw("\u{1B}[H" + picture)
                }
                if !firstPaintLogged, !state.conversation.isEmpty {
                    // The first screen with messages on it; `parla-bench ui` reads this line.
                    firstPaintLogged = true
                    let now = Monotonic.nanoseconds()
                    logger.info("first paint", metadata: ["monotonicNs": "\(now)", "sinceUIStartMs": "\((now - started) / 1_000_000)"])
                }
            }
        }
    }

    static func describe(_ request: GroupRequest) -> String {
        let members = request.members.joined(separator: ", ")
        switch request.action {
        case .create: return "created #\(request.name) with \(members)"
        case .add: return "added \(members) to #\(request.name)"
        case .remove: return "removed \(members) from #\(request.name)"
        case .leave: return "left #\(request.name)"
        case .rename: return "#\(request.name) is now “\(request.title ?? "")”"
        case .promote: return "\(members) now admin of #\(request.name)"
        case .demote: return "\(members) no longer admin of #\(request.name)"
        }
    }

    private func perform(_ effect: AppEffect) {
        let client = self.client
        switch effect {
        case .quit:
            quitRequested.store(true, ordering: .relaxed)
        case .mentionBell:
            mentionBellRequested.store(true, ordering: .relaxed)
        case .notify(let chat, let from, let text):
            notifications.withLock { $0.append(Notification(chat: chat, from: from, text: text)) }
        case .saveDraft(let chat, let text):
            do { try client.store.saveDraft(chat: chat, text: text) } catch { logger.warning("draft not saved", metadata: ["error": "\(error)"]) }
        case .rememberInput(let text):
            do { try client.store.appendInputHistory(text) } catch { logger.warning("input history not saved", metadata: ["error": "\(error)"]) }
        case .loadOldest(let chat):
            Task {
                let page = (try? client.store.oldestPage(chat: chat, limit: TUIApp.pageSize)) ?? []
                let newest = (try? await client.history(chat: chat, limit: 1))?.last?.localID
                self.post(.oldestLoaded(chat: chat, messages: page, hasNewer: newest.map { $0 > (page.last?.localID ?? 0) } ?? false))
            }
        case .checkUser(let name):
            Task { self.post(.userChecked(name: name, result: await client.lookUpUser(name))) }
        case .chatSetting(let chat, let setting):
            Task {
                do {
                    switch setting {
                    case .pin(let on): try client.store.setPinned(chat, on)
                    case .mute(let on): try client.store.setMuted(chat, on)
                    case .close: try client.store.closeChat(chat)
                    }
                    let done: String = switch setting {
                    case .pin(let on): on ? "pinned \(chat)" : "unpinned \(chat)"
                    case .mute(let on): on ? "muted \(chat): no bell or notification" : "unmuted \(chat)"
                    case .close: "closed \(chat); it comes back when there is news (history kept)"
                    }
                    self.post(.notice(done))
                } catch {
                    self.post(.notice("\(error)"))
                }
                if let chats = try? await client.chats() { self.post(.chatsLoaded(chats)) }
            }
        case .answerInvitation(let group, let accept):
            Task {
                do throws(EngineError) {
                    if accept {
                        try await client.acceptInvitation(to: group)
                        self.post(.notice("joined #\(group)"))
                    } else {
                        try await client.declineInvitation(to: group)
                        self.post(.notice("declined #\(group): left it and deleted it here"))
                    }
                } catch {
                    self.post(.notice("\(error)"))
                }
                if let groups = try? await client.groups() { self.post(.groupsLoaded(groups)) }
                if let chats = try? await client.chats() { self.post(.chatsLoaded(chats)) }
            }
        case .group(let request):
            Task {
                do throws(EngineError) {
                    if request.action == .create {
                        try await client.createGroup(request.name, title: request.title ?? request.name, members: request.members)
                    } else {
                        try await client.updateGroup(request.name, request.action, members: request.members, title: request.title)
                    }
                    self.post(.notice(Self.describe(request)))
                } catch {
                    self.post(.notice("\(error)"))
                }
                if let groups = try? await client.groups() { self.post(.groupsLoaded(groups)) }
                if let chats = try? await client.chats() { self.post(.chatsLoaded(chats)) }
            }
        case .memberReceipts(let id):
            Task {
                guard let receipts = try? await client.memberReceipts(messageID: id), !receipts.isEmpty else {
                    self.post(.notice("no per-member receipts for that message"))
                    return
                }
                let read = receipts.filter(\.read).map(\.member)
                let delivered = receipts.filter { $0.delivered && !$0.read }.map(\.member)
                let waiting = receipts.filter { !$0.delivered }.map(\.member)
                var parts: [String] = []
                if !read.isEmpty { parts.append("read: " + read.joined(separator: ", ")) }
                if !delivered.isEmpty { parts.append("delivered: " + delivered.joined(separator: ", ")) }
                if !waiting.isEmpty { parts.append("not yet: " + waiting.joined(separator: ", ")) }
                self.post(.notice(parts.joined(separator: " · ")))
            }
        case .send(let text, let to):
            Task {
                do {
                    try await client.send(text, to: to)
                } catch {
                    let fault = StorageFault(error).map { $0.describe(whose: "this computer's") + ": the message was not saved (it is still in the input history: Up)" }
                    self.post(.engine(.notice(fault ?? "\(error)")))
                }
                self.post(.queuedCount(await client.outboxCount()))
            }
        case .reply(let text, let to, let replyTo):
            queueing { _ = try await client.send(text, to: to, replyTo: replyTo) }
        case .changeMessage(let chat, let id, let change):
            queueing {
                switch change {
                case .edit(let text): try await client.edit(id, in: chat, to: text)
                case .delete(let everyone): try await client.delete(id, in: chat, for: everyone ? .everyone : .me)
                case .react(let emoji): try await client.react(to: id, in: chat, with: emoji)
                }
            }
        case .sendFile(let path, let to, let caption):
            queueing { _ = try await client.sendFile(at: path, to: to, caption: caption) }
        case .saveFile(let chat, let id, let directory):
            Task {
                do {
                    let path = try await client.save(messageID: id, chat: chat, to: directory ?? FileManager.default.currentDirectoryPath)
                    self.post(.notice("saved \(path)"))
                } catch {
                    self.post(.notice("\(error)"))
                }
            }
        case .preview(let path, let name):
            let size = screenSize.withLock { $0 }
            let (columns, rows) = (max(10, size.width), max(3, size.height - 1))
            Task.detached { [graphics] in
                switch ImagePreview.sequence(for: path, graphics: graphics, columns: columns, rows: rows) {
                case .success(let picture):
                    self.pendingPicture.withLock { $0 = picture }
                    self.post(.previewShown(name: name))
                case .failure(let problem):
                    self.post(.notice("\(problem)"))
                }
            }
        case .closePreview:
            if graphics == .kitty { clearPicture.store(true, ordering: .relaxed) }
            forceRedrawRequested.store(true, ordering: .relaxed)
        case .completePath(let head, let partial):
            Task.detached {
                let matches = TUIApp.pathMatches(partial)
                self.post(.pathCompletions(head: head, partial: partial, matches: matches))
            }
        case .setTimer(let chat, let seconds):
            queueing {
                _ = try await client.setTimer(seconds, forChat: chat)
                if let chats = try? await client.chats() { self.post(.chatsLoaded(chats)) }
            }
        case .loadReactions(let chat):
            Task {
                if let reactions = try? await client.reactions(inChat: chat) { self.post(.reactionsLoaded(chat: chat, reactions: reactions)) }
            }
        case .markRead(let chat):
            Task {
                try? await client.markRead(chat: chat)
                if let chats = try? await client.chats() { self.post(.chatsLoaded(chats)) }
            }
        case .loadConversation(let chat):
            Task {
                let page = (try? await client.history(chat: chat, limit: TUIApp.pageSize)) ?? []
                self.post(.conversationLoaded(chat: chat, messages: page))
            }
        case .loadOlder(let chat, let before):
            Task {
                let page = (try? await client.history(chat: chat, limit: TUIApp.pageSize, before: before)) ?? []
                self.post(.olderLoaded(chat: chat, messages: page))
            }
        case .loadChats:
            Task {
                if let chats = try? await client.chats() { self.post(.chatsLoaded(chats)) }
                if let verified = try? await client.verifiedContacts() { self.post(.verifiedLoaded(verified)) }
                if let groups = try? await client.groups() { self.post(.groupsLoaded(groups)) }
                self.post(.queuedCount(await client.outboxCount()))
            }
        case .search(let text):
            Task {
                do {
                    self.post(.searchLoaded(query: text, results: try await client.search(text, limit: 200)))
                } catch {
                    self.post(.notice("search failed: \(error)"))
                }
            }
        case .jump(let chat, let localID):
            Task {
                let page = (try? await client.history(chat: chat, limit: 100, before: localID + 1)) ?? []
                let newest = (try? await client.history(chat: chat, limit: 1))?.last?.localID
                self.post(.jumpLoaded(chat: chat, messages: page, target: localID, hasNewer: newest.map { $0 > localID } ?? false))
            }
        case .setTheme(let name):
            do {
                var chosen = try catalog.load(name)
                if ProcessInfo.processInfo.environment["NO_COLOR"].map({ !$0.isEmpty }) == true, name != "mono" {
                    chosen = .mono
                    post(.notice("NO_COLOR is set: staying monochrome"))
                } else {
                    post(.notice("theme \(name)"))
                }
                pendingTheme.withLock { $0 = chosen }
            } catch {
                post(.notice("\(error); keeping the current theme"))
            }
        case .verify(let name, let mark):
            Task {
                do {
                    guard let number = try await client.safetyNumber(with: name) else {
                        self.post(.notice("no keys for \(name) yet: exchange a message first"))
                        return
                    }
                    if mark { _ = try await client.markVerified(name) }
                    let verified = try await client.contact(name)?.verified ?? false
                    self.post(.notice("safety number with \(name): \(number)"
                        + (verified ? " · verified" : " · compare with \(name)'s, then /verify \(name) yes")))
                    if mark { self.post(.verifiedLoaded(try await client.verifiedContacts())) }
                } catch {
                    self.post(.notice("\(error)"))
                }
            }
        case .typing(let to):
            Task { await client.sendTyping(to: to) }
        case .retryConnection:
            Task { await client.retryNow() }
        case .retry(let localIDs):
            Task {
                for id in localIDs {
                    if let record = try? await client.retry(localID: id) { self.post(.engine(.messageUpdated(record))) }
                }
            }
        case .deleteFailed(let localIDs, let chat):
            Task {
                for id in localIDs { _ = try? await client.deleteFailed(localID: id) }
                let page = (try? await client.history(chat: chat, limit: TUIApp.pageSize)) ?? []
                self.post(.conversationLoaded(chat: chat, messages: page))
            }
        }
    }
}

/// CLOCK_MONOTONIC, which is the same clock in every process on the machine, so a
/// benchmark can compare its own timestamps with the ones the UI logs.
public enum Monotonic {
    public static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// Lets exactly one of several racing tasks resume a continuation.
final class ResumeOnce: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { !claimed.exchange(true, ordering: .relaxed) }
}

extension TUIApp {
    /// Runs a request that queues something for the relay: a refusal is said in the status
    /// line, and the queued count follows.
    private func queueing(_ request: @escaping @Sendable () async throws -> Void) {
        let client = self.client
        Task {
            do {
                try await request()
            } catch {
                self.post(.engine(.notice("\(error)")))
            }
            self.post(.queuedCount(await client.outboxCount()))
        }
    }

    /// What a path being typed could become: entries of its directory starting with its last
    /// part, as typed (a leading "~" kept), directories with a "/" after them; hidden ones
    /// only when asked for with a ".".
    static func pathMatches(_ partial: String) -> [String] {
        let unquoted = partial.hasPrefix("\"") || partial.hasPrefix("'") ? String(partial.dropFirst()) : partial
        let expanded = NSString(string: unquoted).expandingTildeInPath
        let (directory, prefix, typedDirectory): (String, String, String)
        if unquoted.isEmpty || unquoted.hasSuffix("/") {
            (directory, prefix, typedDirectory) = (unquoted.isEmpty ? "." : expanded, "", unquoted)
        } else {
            let cut = unquoted.lastIndex(of: "/").map { unquoted.index(after: $0) } ?? unquoted.startIndex
            let typed = String(unquoted[..<cut])
            (directory, prefix, typedDirectory) = (typed.isEmpty ? "." : NSString(string: typed).expandingTildeInPath, String(unquoted[cut...]), typed)
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().prefix(50).map { name in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(name), isDirectory: &isDirectory)
            return typedDirectory + name + (isDirectory.boolValue ? "/" : "")
        }
    }
}
