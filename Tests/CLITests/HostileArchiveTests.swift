import EHRTestSupport
import Foundation
import Testing

/// The archive is untrusted input: links, FIFOs, stray entries and impossible numbers in it are
/// reported as damage, never followed, waited on or trusted (docs/RELIABILITY.md).
@Suite struct HostileArchiveTests {
    func backedUp() throws -> (Workspace, String) {
        let ws = try Workspace()
        _ = try ws.ok(["backup"])
        return (ws, try #require(try ws.snapshotIDs().first))
    }

    /// Runs ehrdata, killing it if it is still running after `seconds` (a hang is the failure
    /// being tested for; a bound that ends a hung child is not a timing assertion).
    func runBounded(_ ws: Workspace, _ arguments: [String], seconds: Double = 60) throws -> (result: ProcessResult, hung: Bool) {
        let child = try Background(arguments, config: ws.config)
        let deadline = Date().addingTimeInterval(seconds)
        while child.process.isRunning && Date() < deadline { usleep(20_000) }
        let hung = child.process.isRunning
        if hung { child.kill9() }
        return (child.finish(), hung)
    }

    /// Rewrites a snapshot's manifest and recomputes manifest.sha256, as an editor of the
    /// archive would, so that only the content of the edit is what is judged.
    func editManifest(_ ws: Workspace, _ id: String, _ edit: (inout [String: Any]) -> Void) throws {
        let dir = ws.snapshotDirectory(id)
        var json = try ws.manifestJSON(id)
        edit(&json)
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        let sum = try Run.program("/bin/sh", ["-c", "cd '\(dir)' && sha256sum manifest.json > manifest.sha256"])
        #expect(sum.status == 0)
    }

    // MARK: links

    @Test func aLinkedStagingDirectoryIsNeverEmptied() throws {
        let ws = try Workspace()
        let victim = ws.dir.file("victim")
        try FileManager.default.createDirectory(atPath: victim + "/keep", withIntermediateDirectories: true)
        try "precious".write(toFile: victim + "/file.txt", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: ws.archive + "/staging")
        try FileManager.default.createSymbolicLink(atPath: ws.archive + "/staging", withDestinationPath: victim)

        expectFailure(try ws.run(["backup"]), code: 65, mentions: ["staging", "symbolic link"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim).sorted() == ["file.txt", "keep"])
        #expect(try ws.snapshotIDs().isEmpty)
    }

    @Test(arguments: ["data file", "data directory", "snapshot directory", "manifest"])
    func aLinkInsideASnapshotIsDamage(_ what: String) throws {
        let (ws, id) = try backedUp()
        let dir = ws.snapshotDirectory(id)
        // The link points at an exact, intact copy: following it would verify "ok".
        let outside = ws.dir.file("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let linked: String
        switch what {
        case "data file": linked = dir + "/data/backend.sqlite.gz"
        case "data directory": linked = dir + "/data"
        case "manifest": linked = dir + "/manifest.json"
        default: linked = dir
        }
        let copy = outside + "/" + (linked as NSString).lastPathComponent
        try FileManager.default.moveItem(atPath: linked, toPath: copy)
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: copy)

        for depth in [[], ["--deep"]] {
            let r = try ws.run(["verify", id] + depth)
            #expect(r.status == 65, "\(what), verify \(depth): exit \(r.status): \(r.stdout) \(r.stderr)")
            #expect(r.stdout.contains("symbolic link"), "\(what): \(r.stdout)")
        }
        let target = ws.dir.file("restored.sqlite")
        expectFailure(try ws.run(["restore", id, "--to", target]), code: 65, mentions: ["symbolic link"])
        #expect(!FileManager.default.fileExists(atPath: target))
        // Nothing was written through the link (verify.json lands beside the manifest).
        #expect(!FileManager.default.fileExists(atPath: copy + "/verify.json"))
    }

    // MARK: FIFOs and devices

    @Test(arguments: ["fifo", "device"])
    func aFifoOrDeviceWhereADataFileShouldBeIsDamageNotAHang(_ kind: String) throws {
        let (ws, id) = try backedUp()
        let path = ws.snapshotDirectory(id) + "/data/backend.sqlite.gz"
        try FileManager.default.removeItem(atPath: path)
        if kind == "fifo" {
            #expect(mkfifo(path, 0o600) == 0)
        } else {
            // /dev/zero's own device numbers: an endless stream where a file should be.
            var st = stat()
            #expect(stat("/dev/zero", &st) == 0)
            #expect(mknod(path, S_IFCHR | 0o600, st.st_rdev) == 0)
        }
        for arguments in [["verify", id], ["verify", id, "--deep"], ["restore", id, "--to", ws.dir.file("r.sqlite")]] {
            let (r, hung) = try runBounded(ws, arguments)
            #expect(!hung, "\(arguments) hung on a \(kind)")
            #expect(r.status == 65, "\(arguments): exit \(r.status): \(r.stdout) \(r.stderr)")
            #expect((r.stdout + r.stderr).contains(kind == "fifo" ? "FIFO" : "device"), "\(r.stdout) \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: ws.dir.file("r.sqlite")))
    }

    @Test func aHugeSparseDataFileIsDamageWithoutReadingIt() throws {
        let (ws, id) = try backedUp()
        let path = ws.snapshotDirectory(id) + "/data/backend.sqlite.gz"
        #expect(truncate(path, 8 << 40) == 0) // 8 TiB of holes: hashing it would take hours
        let (r, hung) = try runBounded(ws, ["verify", id], seconds: 60)
        #expect(!hung, "verify read the whole file")
        #expect(r.status == 65 && r.stdout.contains("size"), "\(r.stdout) \(r.stderr)")
    }

    @Test func aFifoAsManifestIsDamageNotAHang() throws {
        let (ws, id) = try backedUp()
        let path = ws.snapshotDirectory(id) + "/manifest.json"
        try FileManager.default.removeItem(atPath: path)
        #expect(mkfifo(path, 0o600) == 0)
        for arguments in [["list"], ["verify", id]] {
            let (r, hung) = try runBounded(ws, arguments)
            #expect(!hung, "\(arguments) hung")
            #expect(arguments == ["list"] ? r.status == 0 && r.stdout.contains("DAMAGED") : r.status == 65,
                    "\(arguments): exit \(r.status): \(r.stdout) \(r.stderr)")
        }
    }

    // MARK: a read-only archive

    @Test func readersWorkOnAReadOnlyArchiveAndWritersFailClearly() throws {
        let (ws, id) = try backedUp()
        // As on backup media mounted read-only: a read-only bind mount of the archive, with no
        // lock files in it yet.
        for name in ["read.lock", "write.lock"] { try? FileManager.default.removeItem(atPath: ws.archive + "/" + name) }
        let mounted = ws.dir.file("ro-archive")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        let bind = try Run.program("/bin/mount", ["--bind", ws.archive, mounted])
        try #require(bind.status == 0, "mount --bind: \(bind.stderr)")
        defer { withExtendedLifetime(ws) { _ = try? Run.program("/bin/umount", [mounted]) } }
        let remount = try Run.program("/bin/mount", ["-o", "remount,ro,bind", mounted])
        try #require(remount.status == 0, "remount ro: \(remount.stderr)")
        let config = try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "archive: \(ws.archive)", with: "archive: \(mounted)")
        try config.write(toFile: ws.config, atomically: true, encoding: .utf8)
        let before = try TreeState(ws.archive)

        let list = try ws.run(["list"])
        #expect(list.status == 0 && list.stdout.contains(id), "\(list.stdout) \(list.stderr)")
        let verify = try ws.run(["verify", "--deep"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        #expect(verify.stdout.contains("ok"), "\(verify.stdout)")
        #expect(verify.stderr.contains("read-only") && verify.stderr.contains("not recorded"), "\(verify.stderr)")
        let restored = ws.dir.file("restored.sqlite")
        let restore = try ws.run(["restore", id, "--to", restored])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Run.dump(restored) == (try Run.dump(ws.source)))
        // Writers say what is wrong.
        expectFailure(try ws.run(["backup"]), code: 1, mentions: ["read-only"])
        expectFailure(try ws.run(["restore", id, "--yes"]), code: 1, mentions: ["read-only"])
        #expect(try TreeState(ws.archive) == before)
    }

    // MARK: a full disk

    /// A small tmpfs mounted at `path` (unmounted when the returned value's closure runs).
    func smallFilesystem(at path: String, kilobytes: Int) throws -> () -> Void {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = try Run.program("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=0700", "tmpfs", path])
        try #require(mount.status == 0, "mount tmpfs: \(mount.stderr)")
        return { _ = try? Run.program("/bin/umount", [path]) }
    }

    @Test func aFullDiskFailsBackupAndRestoreCleanly() throws {
        let ws = try Workspace(initialise: false)
        let unmountArchive = try smallFilesystem(at: ws.archive, kilobytes: 256) // the fixture compresses to ~750 KiB
        defer { withExtendedLifetime(ws) { unmountArchive() } }
        _ = try ws.ok(["init"])
        let backup = try ws.run(["backup"])
        expectFailure(backup, code: 1, mentions: ["disk is full"])
        #expect(try ws.snapshotIDs().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.archive + "/staging").isEmpty)

        // Restore onto a full disk: nothing half-written is left at the target or beside it.
        let roomy = try Workspace()
        _ = try roomy.ok(["backup"])
        let target = roomy.dir.file("small")
        let unmountTarget = try smallFilesystem(at: target, kilobytes: 256)
        defer { withExtendedLifetime(roomy) { unmountTarget() } }
        expectFailure(try roomy.run(["restore", "latest", "--to", target + "/backend.sqlite"]), code: 1, mentions: ["disk is full"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: roomy.archive + "/intents").isEmpty)
    }

    // MARK: init

    @Test(arguments: [0o755, 0o1777])
    func initOnAnExistingDirectoryMakesIt0700(_ mode: Int) throws {
        let ws = try Workspace(initialise: false)
        try FileManager.default.createDirectory(atPath: ws.archive, withIntermediateDirectories: true)
        #expect(chmod(ws.archive, mode_t(mode)) == 0)
        _ = try ws.ok(["init"])
        let attributes = try FileManager.default.attributesOfItem(atPath: ws.archive)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
    }

    // MARK: the manifest decides nothing about where data goes

    @Test func anEditedManifestPathIsNotWhereAnInPlaceRestoreWrites() throws {
        let (ws, id) = try backedUp()
        let victim = ws.dir.file("victim.sqlite")
        try "not to be touched".write(toFile: victim, atomically: true, encoding: .utf8)
        let sourceBefore = try Run.dump(ws.source)
        try editManifest(ws, id) { json in
            var sources = json["sources"] as! [[String: Any]]
            var sqlite = sources[0]["sqlite"] as! [String: Any]
            sqlite["path"] = victim
            sources[0]["sqlite"] = sqlite
            json["sources"] = sources
        }
        let r = try ws.run(["restore", id, "--yes"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "not to be touched")
        #expect(try Run.dump(ws.source) == sourceBefore)
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).contains { $0.hasPrefix("backend.sqlite.pre-restore-") })
    }

    @Test func aSourceThatIsNotInTheConfigIsRefusedInPlace() throws {
        let (ws, id) = try backedUp()
        let other = ws.dir.file("other.sqlite")
        try FileManager.default.copyItem(atPath: ws.source, toPath: other)
        let otherBefore = try Run.dump(other)
        // An extra source in the manifest aimed at another database's file.
        try editManifest(ws, id) { json in
            var sources = json["sources"] as! [[String: Any]]
            var extra = sources[0]
            extra["name"] = "intruder"
            var sqlite = extra["sqlite"] as! [String: Any]
            sqlite["path"] = other
            extra["sqlite"] = sqlite
            sources.append(extra)
            json["sources"] = sources
        }
        for arguments in [["restore", id, "--dry-run"], ["restore", id, "--yes"], ["restore", id, "--source", "intruder", "--yes"]] {
            expectFailure(try ws.run(arguments), code: 78, mentions: ["intruder", "not in the config", "--to"])
        }
        #expect(try Run.dump(other) == otherBefore)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: ws.dir.path).contains { $0.contains("pre-restore") }))
    }

    // MARK: robust reading

    /// The snapshot's source twice, each copy's data file claiming `size` bytes.
    func twoSourcesClaiming(_ ws: Workspace, _ id: String, size: Int64, compressedToo: Bool) throws {
        try editManifest(ws, id) { json in
            var sources = json["sources"] as! [[String: Any]]
            var second = sources[0]
            second["name"] = "second"
            sources.append(second)
            for i in sources.indices {
                var files = sources[i]["files"] as! [[String: Any]]
                var uncompressed = files[0]["uncompressed"] as! [String: Any]
                uncompressed["size"] = size
                files[0]["uncompressed"] = uncompressed
                if compressedToo { files[0]["compressed"] = uncompressed }
                sources[i]["files"] = files
            }
            json["sources"] = sources
        }
    }

    @Test func sizesThatOverflowMarkOneSnapshotDamagedAndTheRestStillList() throws {
        let (ws, bad) = try backedUp()
        _ = try ws.ok(["backup"])
        try twoSourcesClaiming(ws, bad, size: Int64.max - 10, compressedToo: true)
        let list = try ws.run(["list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let entries = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(entries.count == 2)
        #expect(entries.first { $0["id"] as? String == bad }?["problem"] != nil)
        #expect(entries.first { $0["id"] as? String != bad }?["problem"] == nil)
        for depth in [[], ["--deep"]] {
            let r = try ws.run(["verify", "--all"] + depth)
            #expect(r.status == 65, "verify \(depth): exit \(r.status) \(r.stderr)")
            #expect(r.stdout.contains("impossible size"), "\(r.stdout)")
        }
    }

    @Test func sizesEachWithinBoundsThatAddUpPastThemAreDamage() throws {
        let (ws, id) = try backedUp()
        try twoSourcesClaiming(ws, id, size: Int64(1) << 49 + 1, compressedToo: false) // each allowed; together past 2^50
        let r = try ws.run(["verify", id])
        #expect(r.status == 65 && r.stdout.contains("add up"), "\(r.stdout) \(r.stderr)")
        #expect(try ws.ok(["list"]).contains("DAMAGED"))
    }

    @Test func verifyAllGivesEverySnapshotItsVerdictAndIgnoresStrayEntries() throws {
        let (ws, first) = try backedUp()
        _ = try ws.ok(["backup"])
        let ids = try ws.snapshotIDs()
        // The first snapshot's verdict cannot be recorded: its verify.json is a directory.
        try FileManager.default.createDirectory(atPath: ws.snapshotDirectory(first) + "/verify.json", withIntermediateDirectories: true)
        // Stray entries, one named like an id of a time that cannot exist, one a file with a real id's form.
        try FileManager.default.createDirectory(atPath: ws.archive + "/snapshots/99991399T999999.999Z-ffff", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: ws.archive + "/snapshots/zzz-not-an-id", withIntermediateDirectories: true)
        try "x".write(toFile: ws.archive + "/snapshots/99990101T000000.000Z-ffff", atomically: true, encoding: .utf8)

        let r = try ws.run(["verify", "--all", "--json"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let reports = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        #expect(reports.map { $0["id"] as! String } == ids)
        #expect(reports.allSatisfy { $0["ok"] as? Bool == true })
        #expect(reports.first { $0["id"] as? String == first }?["recorded"] as? Bool == false)
        #expect(reports.first { $0["id"] as? String != first }?["recorded"] as? Bool == true)
        #expect(r.stderr.contains("not recorded"), "\(r.stderr)")
        for stray in ["99991399T999999.999Z-ffff", "zzz-not-an-id", "99990101T000000.000Z-ffff"] {
            #expect(r.stderr.contains(stray), "no warning about \(stray): \(r.stderr)")
        }
        // `latest` is the newest real snapshot, not a stray.
        let restored = ws.dir.file("latest.sqlite")
        _ = try ws.ok(["restore", "latest", "--to", restored])
        let list = try ws.ok(["list", "--json"])
        #expect(!list.contains("9999"), "\(list)")
    }

    // MARK: what docs and behaviour agree on

    @Test func aNewerManifestOrUnknownCodecIs76AtEveryDepthAndInRestore() throws {
        for edit in ["version", "codec", "encryption"] {
            let (ws, id) = try backedUp()
            try editManifest(ws, id) { json in
                if edit == "version" { json["version"] = 99; return }
                var sources = json["sources"] as! [[String: Any]]
                var files = sources[0]["files"] as! [[String: Any]]
                if edit == "codec" { files[0]["codec"] = "brotli" } else { files[0]["encryption"] = "aes-256-gcm" }
                sources[0]["files"] = files
                json["sources"] = sources
            }
            for arguments in [["verify", id], ["verify", id, "--deep"], ["verify", "--all"]] {
                let r = try ws.run(arguments)
                #expect(r.status == 76, "\(edit), \(arguments): exit \(r.status): \(r.stdout) \(r.stderr)")
                #expect(r.stderr.contains("upgrade"), "\(r.stderr)")
            }
            expectFailure(try ws.run(["restore", id, "--to", ws.dir.file("r.sqlite")]), code: 76, mentions: ["upgrade"])
            expectFailure(try ws.run(["restore", id, "--yes"]), code: 76, mentions: ["upgrade"])
        }
    }

    @Test func listNeverShowsAnOlderOkBesideDamage() throws {
        let (ws, id) = try backedUp()
        _ = try ws.ok(["verify", id])
        #expect(try ws.ok(["list"]).contains("ok "))
        let path = ws.snapshotDirectory(id) + "/manifest.json"
        try (try String(contentsOfFile: path, encoding: .utf8) + " ").write(toFile: path, atomically: true, encoding: .utf8)
        let text = try ws.ok(["list"])
        #expect(text.contains("DAMAGED"), "\(text)")
        #expect(!text.contains("ok "), "an older ok stands beside DAMAGED: \(text)")
        let json = try JSONSerialization.jsonObject(with: Data(try ws.ok(["list", "--json"]).utf8)) as! [[String: Any]]
        #expect(json[0]["lastVerify"] == nil)
    }
}
