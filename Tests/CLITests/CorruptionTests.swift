import EHRTestSupport
import Foundation
import Testing

/// Every kind of damage to a snapshot makes `verify` fail with exit 65, naming the file.
@Suite struct CorruptionTests {
    func backedUp() throws -> (Workspace, String) {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        return (ws, try #require(try ws.snapshotIDs().first))
    }

    func expectVerifyFails(_ ws: Workspace, naming file: String) throws {
        let r = try ws.run(["verify"])
        #expect(r.status == 65, "verify exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains(file), "report does not name \(file): \(r.stdout)")
        #expect(r.stderr.contains(file), "error does not name \(file): \(r.stderr)")
        let list = try ws.ok(["list"])
        #expect(list.contains("FAILED"))
    }

    @Test func intactSnapshotVerifies() throws {
        let (ws, id) = try backedUp()
        let r = try ws.run(["verify", id])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func flippedByteInDataFile() throws {
        let (ws, id) = try backedUp()
        let path = ws.snapshotDirectory(id) + "/data/backend.sqlite.gz"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try expectVerifyFails(ws, naming: "data/backend.sqlite.gz")
        // Restore refuses the damaged copy and leaves nothing behind.
        let r = try ws.run(["restore", id, "--to", ws.dir.file("r.sqlite")])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ws.dir.file("r.sqlite")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func deletedDataFile() throws {
        let (ws, id) = try backedUp()
        try FileManager.default.removeItem(atPath: ws.snapshotDirectory(id) + "/data/backend.sqlite.gz")
        try expectVerifyFails(ws, naming: "data/backend.sqlite.gz")
    }

    @Test func addedFile() throws {
        let (ws, id) = try backedUp()
        try "stray".write(toFile: ws.snapshotDirectory(id) + "/data/extra.bin", atomically: true, encoding: .utf8)
        try expectVerifyFails(ws, naming: "data/extra.bin")
    }

    @Test func editedManifest() throws {
        let (ws, id) = try backedUp()
        let path = ws.snapshotDirectory(id) + "/manifest.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"userVersion\" : 3", with: "\"userVersion\" : 4")
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try String(contentsOfFile: path, encoding: .utf8) != text)
        try expectVerifyFails(ws, naming: "manifest.json")
    }

    @Test func truncatedDataFileWithMatchingManifestEditIsStillCaught() throws {
        // Someone "fixes" the manifest digest file too: the data file's own SHA-256 still fails.
        let (ws, id) = try backedUp()
        let path = ws.snapshotDirectory(id) + "/data/backend.sqlite.gz"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        try expectVerifyFails(ws, naming: "data/backend.sqlite.gz")
    }

    @Test func verifyAllReportsEachSnapshot() throws {
        let (ws, first) = try backedUp()
        _ = try ws.ok(["backup"])
        try FileManager.default.removeItem(atPath: ws.snapshotDirectory(first) + "/manifest.sha256")
        let r = try ws.run(["verify", "--all", "--json"])
        #expect(r.status == 65)
        let reports = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        #expect(reports.count == 2)
        #expect(reports.filter { $0["ok"] as? Bool == true }.count == 1)
        #expect(r.stdout.contains("manifest.sha256"))
    }
}
