import EHRArchive
import EHRCore
import EHREngine
import EHRTestSupport
import Foundation
import Logging
import Testing

@Suite struct BackupEngineTests {
    func setup() throws -> (TempDirectory, Configuration, Archive) {
        let dir = TempDirectory()
        try FileManager.default.copyItem(atPath: Repository.fixture, toPath: dir.file("src.sqlite"))
        let config = Configuration(archive: dir.file("arch"),
                                   sources: [SourceConfig(name: "backend", kind: .sqlite, path: dir.file("src.sqlite"))],
                                   origin: "test")
        let (archive, _) = try Archive.create(at: config.archive)
        return (dir, config, archive)
    }

    @Test func leftoverStagingFromACrashIsRemovedByTheNextBackup() throws {
        let (dir, config, archive) = try setup()
        defer { withExtendedLifetime(dir) {} }
        let crashed = archive.stagingDirectory + "/20260101T000000.000Z-dead"
        try FileSystem.makeDirectories(crashed + "/data")
        try "partial".write(toFile: crashed + "/data/backend.sqlite.gz", atomically: true, encoding: .utf8)
        let manifest = try BackupEngine(configuration: config, logger: Logger(label: "test")).run()
        #expect(!FileManager.default.fileExists(atPath: crashed))
        #expect(try archive.snapshotIDs() == [manifest.snapshotID])
        let reports = try VerifyEngine(archive: archive, logger: Logger(label: "test")).run([manifest.snapshotID])
        #expect(reports.allSatisfy { $0.ok })
    }

    @Test func aSecondWriterIsRefusedWithTheLockedCode() throws {
        let (dir, config, archive) = try setup()
        defer { withExtendedLifetime(dir) {} }
        let held = try ArchiveLock(archive: archive, mode: .writer, command: "test")
        do {
            _ = try BackupEngine(configuration: config, logger: Logger(label: "test")).run()
            Issue.record("backup ran while another writer held the lock")
        } catch let e as EHRError {
            #expect(e.kind == .locked)
            #expect(e.message.contains("command=test"))
        }
        withExtendedLifetime(held) {}
        #expect(try archive.snapshotIDs().isEmpty)
    }

    @Test func readersShareTheLock() throws {
        let (dir, config, archive) = try setup()
        defer { withExtendedLifetime(dir) {} }
        _ = try BackupEngine(configuration: config, logger: Logger(label: "test")).run()
        let reader = try ArchiveLock(archive: archive, mode: .reader, command: "test")
        #expect(try ListEngine(archive: archive, logger: Logger(label: "test")).run().count == 1)
        withExtendedLifetime(reader) {}
    }

    @Test func unknownSourceNameIsNotFound() throws {
        let (dir, config, _) = try setup()
        defer { withExtendedLifetime(dir) {} }
        do {
            _ = try BackupEngine(configuration: config, logger: Logger(label: "test")).run(sourceNames: ["nope"])
            Issue.record("accepted an unknown source")
        } catch let e as EHRError {
            #expect(e.kind == .notFound)
            #expect(e.hint?.contains("backend") == true)
        }
    }
}
