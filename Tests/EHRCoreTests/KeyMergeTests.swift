import EHRCore
import Testing

@Suite struct KeyMergeTests {
    /// Feeds sorted string keys (nil: NULL) to the merge.
    func merge(_ each: [String?], _ existsIn: [String?], keep: Int = 0) throws -> KeyMerge {
        var left = each.makeIterator(), right = existsIn.makeIterator()
        var merge = KeyMerge(keep: keep)
        try merge.run(each: { left.next().map { .key($0.map { Array($0.utf8) }) } ?? .end },
                      existsIn: { right.next().map { .key($0.map { Array($0.utf8) }) } ?? .end })
        return merge
    }

    @Test func countsDistinctMissingKeysAndNulls() throws {
        let m = try merge([nil, "a", "b", "b", "c", "e", "e", nil, "z"], ["a", "c", "c", "d", nil], keep: 2)
        #expect(m.missing == 3) // b, e, z
        #expect(m.nullKeys == 2)
        #expect(m.shown.map { String(decoding: $0, as: UTF8.self) } == ["b", "e"])
    }

    @Test func emptySidesAndEqualSides() throws {
        #expect(try merge([], ["a"]).missing == 0)
        #expect(try merge(["a", "b"], []).missing == 2)
        #expect(try merge(["1", "10", "2"], ["1", "10", "2"]).missing == 0)
    }

    @Test func byteOrderIsTheSortOrder() {
        // "C" collation and SQLite BINARY: uppercase before lowercase, shorter prefix first.
        #expect(KeyMerge.less(Array("B".utf8), Array("a".utf8)))
        #expect(KeyMerge.less(Array("ab".utf8), Array("abc".utf8)))
        #expect(KeyMerge.less(Array("z".utf8), Array("é".utf8)))
    }

    @Test func anUnsortedSideIsAnErrorNotAWrongCount() {
        #expect(throws: KeyMergeError.unsorted(side: "each")) { try merge(["b", "a"], ["a", "b"]) }
        #expect(throws: KeyMergeError.unsorted(side: "exists_in")) { try merge(["c"], ["b", "a", "c"]) }
    }

    @Test func copyTextDecoding() {
        func decode(_ s: String) -> String? {
            Array(s.utf8).withUnsafeBytes { KeySQL.decodeCopyText($0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(decode("\\N\n") == nil)
        #expect(decode("plain\n") == "plain")
        #expect(decode("a\\tb\\\\c\\nd\n") == "a\tb\\c\nd")
        #expect(decode("\\101\n") == "A")
    }

    @Test func verdicts() {
        let pass = CheckResult(name: "a", source: "s", kind: "sqlite", status: .pass)
        let fail = CheckResult(name: "b", source: "s", kind: "sqlite", status: .fail, violations: 1)
        let error = CheckResult(name: "c", source: "s", kind: "sqlite", status: .error)
        let skipped = CheckResult(name: "d", source: "s", kind: "postgres", status: .skipped)
        #expect(CheckVerdict([pass, skipped]).errorKind == nil)
        #expect(CheckVerdict([pass, error]).errorKind?.exitCode == 82)
        #expect(CheckVerdict([error, fail]).errorKind?.exitCode == 81)
    }
}
