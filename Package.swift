// swift-tools-version:6.0
// ehrdata: consistent backups, verification and safe restores for an EHR system's SQLite and
// PostgreSQL data. The layering follows ../shared/STYLE.md: C libraries behind one system-library
// target each, adapters that own the C handles, a pure core, the archive format, one engine type
// per use case, and a thin executable.
import PackageDescription

let package = Package(
    name: "ehrdata",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ehrdata", targets: ["ehrdata"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The metrics file: Prometheus text format from swift-prometheus's registry (on swift-metrics).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries: a module map and a shim header, nothing else.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate", providers: [.apt(["libdeflate-dev"])]),
        // Linux system calls Glibc's Swift module does not export (renameat2, copy_file_range).
        .systemLibrary(name: "CPosix", path: "Sources/CPosix"),

        // Vocabulary and pure logic: no C, no I/O.
        .target(name: "EHRCore"),
        // The configuration file: strict YAML with line numbers in errors.
        .target(name: "EHRConfig", dependencies: ["EHRCore", .product(name: "Yams", package: "Yams")]),
        // Independent compressed members: gzip over zlib (the default; read back with libdeflate
        // when the size is known), zstd frames (optional). The only importer of CZlib, CZstd and
        // CDeflate.
        .target(name: "EHRCompression", dependencies: ["EHRCore", "CZlib", "CZstd", "CDeflate"]),
        // Adapters: the only importers of their C library.
        .target(name: "EHRSQLite", dependencies: ["EHRCore", "CSQLite"]),
        .target(name: "EHRPostgres", dependencies: ["EHRCore", "CLibPQ"]),
        // The on-disk format: layout, manifest, checksums, atomic writes.
        .target(name: "EHRArchive", dependencies: [
            "EHRCore", "EHRCompression", "CPosix",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // One type per use case.
        .target(name: "EHREngine", dependencies: [
            "EHRCore", "EHRConfig", "EHRArchive", "EHRCompression", "EHRSQLite", "EHRPostgres", "CPosix",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The executable: argument-parser commands only.
        .executableTarget(name: "ehrdata", dependencies: [
            "EHRCore", "EHRConfig", "EHREngine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Helpers shared by the test targets: temp directories, the sqlite3 CLI, the built binary.
        .target(name: "EHRTestSupport", dependencies: [
            "EHRSQLite", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Tests/EHRTestSupport"),
        .testTarget(name: "EHRCoreTests", dependencies: ["EHRCore", "EHRTestSupport"]),
        .testTarget(name: "EHRConfigTests", dependencies: ["EHRConfig", "EHRTestSupport"]),
        .testTarget(name: "EHRCompressionTests", dependencies: ["EHRCompression", "EHRTestSupport"]),
        .testTarget(name: "EHRSQLiteTests", dependencies: ["EHRSQLite", "EHRTestSupport"]),
        .testTarget(name: "EHRPostgresTests", dependencies: ["EHRPostgres", "EHRTestSupport"]),
        .testTarget(name: "EHRArchiveTests", dependencies: ["EHRArchive", "EHRTestSupport"]),
        .testTarget(name: "EHREngineTests", dependencies: [
            "EHREngine", "EHRArchive", "EHRSQLite", "EHRTestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        // Runs the built `ehrdata` binary against real files.
        .testTarget(name: "CLITests", dependencies: ["EHRSQLite", "EHRTestSupport"]),
    ]
)
