import Crypto
import Foundation

/// Every file and directory under a root with its mode, size and SHA-256: two equal states mean
/// nothing on disk changed.
public struct TreeState: Equatable, CustomStringConvertible {
    public var entries: [String: String]

    public init(_ root: String) throws {
        var entries: [String: String] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: root) else { self.entries = [:]; return }
        while let rel = walker.nextObject() as? String {
            let full = root + "/" + rel
            let attrs = try fm.attributesOfItem(atPath: full)
            let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue ?? -1
            if (attrs[.type] as? FileAttributeType) == .typeDirectory {
                entries[rel] = "dir mode=\(String(mode, radix: 8))"
            } else {
                let data = fm.contents(atPath: full) ?? Data()
                let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
                entries[rel] = "file mode=\(String(mode, radix: 8)) size=\(data.count) sha256=\(digest)"
            }
        }
        self.entries = entries
    }

    public var description: String {
        entries.keys.sorted().map { "\($0): \(entries[$0]!)" }.joined(separator: "\n")
    }
}
