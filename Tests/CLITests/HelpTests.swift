import EHRTestSupport
import Foundation
import Testing

@Suite struct HelpTests {
    @Test(arguments: [[], ["init"], ["backup"], ["list"], ["show"], ["verify"], ["restore"], ["migrate"], ["config", "check"],
                      ["check"], ["drill"], ["prune"], ["hold"], ["release"], ["status"], ["metrics"]])
    func everyCommandHasHelpWithExamples(_ command: [String]) throws {
        let r = try Run.ehrdata(command + ["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Examples:"), "no examples in help of \(command)")
        #expect(r.stdout.contains("ehrdata"))
        if ["prune", "hold", "release", "status", "metrics"].contains(command.first ?? "") {
            #expect(r.stdout.contains("Exit status"), "no exit statuses in help of \(command)")
        }
    }

    @Test func versionAndCompletions() throws {
        let v = try Run.ehrdata(["--version"])
        #expect(v.status == 0)
        #expect(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        for shell in ["bash", "zsh", "fish"] {
            let c = try Run.ehrdata(["--generate-completion-script", shell])
            #expect(c.status == 0)
            #expect(c.stdout.contains("restore"))
            #expect(c.stdout.contains("migrate") && c.stdout.contains("on-mismatch"))
            #expect(c.stdout.contains("show-keys") && c.stdout.contains("scratch-dir") && c.stdout.contains("drill"))
            #expect(c.stdout.contains("prune") && c.stdout.contains("dry-run") && c.stdout.contains("max-age")
                && c.stdout.contains("release") && c.stdout.contains("reason"))
        }
    }

    @Test func initWritesAStrictValidSampleAndNeverOverwrites() throws {
        let dir = TempDirectory()
        let config = dir.file("etc/ehrdata.yaml")
        let r = try Run.ehrdata(["init", "--config", config, "--archive", dir.file("arch")])
        #expect(r.status == 0, "\(r.stderr)")
        let sample = try String(contentsOfFile: config, encoding: .utf8)
        #expect(sample.contains("archive: \(dir.file("arch"))"))
        // The sample parses: config check fails only because its placeholder source is absent.
        let check = try Run.ehrdata(["config", "check", "--config", config])
        #expect(check.status == 1)
        #expect(check.stdout.contains("valid"))
        #expect(check.stdout.contains("database file does not exist"))
        // A second init leaves the edited config alone.
        try (sample + "\n# edited\n").write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try Run.ehrdata(["init", "--config", config]).status == 0)
        #expect(try String(contentsOfFile: config, encoding: .utf8).hasSuffix("# edited\n"))
        let mode = (try FileManager.default.attributesOfItem(atPath: dir.file("arch"))[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o700)
    }
}
