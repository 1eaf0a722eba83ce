import Foundation

/// A fresh directory under /tmp, removed when the value goes away.
public final class TempDirectory {
    public let path: String

    public init(_ label: String = "ehrdata-test") {
        let template = NSTemporaryDirectory() + "\(label).XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let p = mkdtemp(&bytes) else { fatalError("mkdtemp failed") }
        path = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }

    public func write(_ text: String, to name: String) throws {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    }
}

/// Where the repository's committed files are, found from this source file's location.
public enum Repository {
    public static var root: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.path
            }
        }
        fatalError("cannot find the repository root from \(#filePath)")
    }

    public static var fixture: String { root + "/fixtures/ehr.sqlite" }
}
