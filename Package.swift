// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Parla",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "parla-relay", targets: ["parla-relay"]),
        .library(name: "ParlaProtocol", targets: ["ParlaProtocol"]),
        .library(name: "ParlaCrypto", targets: ["ParlaCrypto"]),
        .library(name: "ParlaRelay", targets: ["ParlaRelay"]),
        .library(name: "ParlaRelayTesting", targets: ["ParlaRelayTesting"]),
        .library(name: "ParlaClient", targets: ["ParlaClient"]),
        .library(name: "ParlaTUI", targets: ["ParlaTUI"]),
        .executable(name: "parla", targets: ["parla"]),
        .executable(name: "parla-bench", targets: ["parla-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .target(name: "ParlaProtocol"),
        .target(name: "ParlaCrypto", dependencies: [
            "ParlaProtocol",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "ParlaRelay", dependencies: [
            "ParlaProtocol", "ParlaCrypto",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "ParlaRelayTesting", dependencies: [
            "ParlaRelay", "ParlaProtocol", "ParlaCrypto",
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .target(name: "ParlaClient", dependencies: [
            "ParlaProtocol", "ParlaCrypto",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
        ]),
        .systemLibrary(name: "CNcurses", pkgConfig: "ncursesw", providers: [.apt(["libncurses-dev"])]),
        .target(name: "ParlaTUI", dependencies: [
            "ParlaClient", "ParlaProtocol", "CNcurses",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "parla", dependencies: [
            "ParlaClient", "ParlaProtocol", "ParlaTUI", "ParlaRelay",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ParlaBench", dependencies: [
            "ParlaClient", "ParlaTUI", "ParlaRelay", "ParlaRelayTesting", "ParlaProtocol",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "parla-bench", dependencies: [
            "ParlaBench",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "parla-relay", dependencies: [
            "ParlaRelay",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ParlaProtocolTests", dependencies: ["ParlaProtocol", "ParlaCrypto"]),
        .testTarget(name: "ParlaCryptoTests", dependencies: ["ParlaCrypto"]),
        .testTarget(name: "ParlaTUITests", dependencies: [
            "ParlaTUI", "ParlaClient", "ParlaRelayTesting", "parla", "parla-relay",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ParlaClientTests", dependencies: [
            "ParlaClient", "ParlaCrypto", "ParlaRelay", "ParlaRelayTesting", "parla", "parla-relay",
        ]),
        .testTarget(name: "ParlaRelayTests", dependencies: [
            "ParlaRelay", "ParlaRelayTesting", "parla-relay",
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        ]),
    ]
)
