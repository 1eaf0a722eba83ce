/// The one error type that reaches the executable. Adapters keep their own error types and
/// translate at the engine boundary, so every failure a user sees has a kind (which decides the
/// exit code), a one-line message and a hint saying what to do.
///
/// Messages name files, sources, tables and snapshot ids, never row values: patient data does
/// not belong in errors.
public struct EHRError: Error, CustomStringConvertible, Sendable, Equatable {
    public var kind: Kind
    public var message: String
    public var hint: String?

    public init(_ kind: Kind, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    public var description: String {
        guard let hint, !hint.isEmpty else { return message }
        return "\(message) (hint: \(hint))"
    }

    /// What went wrong, as far as a script needs to know. Each kind has one exit code,
    /// documented in docs/EXIT-CODES.md.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case failure
        case usage
        case verificationFailed
        case notFound
        case targetExists
        case locked
        case unsupportedFormat
        case configuration
        /// A backup published its snapshot, but found a source itself damaged (or shrunk).
        case sourceDamaged
        /// migrate: values the declared types do not hold, a violated key, or colliding names.
        case valuesDoNotFit
        // Reserved for later issues; the codes are fixed now so scripts can rely on them.
        case parityMismatch
        case inconsistencyFound
        case checkCouldNotRun
        case staleBackup

        public var exitCode: Int32 {
            switch self {
            case .failure: 1
            case .usage: 64
            case .verificationFailed: 65
            case .notFound: 66
            case .targetExists: 73
            case .locked: 75
            case .unsupportedFormat: 76
            case .configuration: 78
            case .parityMismatch: 80
            case .inconsistencyFound: 81
            case .checkCouldNotRun: 82
            case .staleBackup: 83
            case .sourceDamaged: 84
            case .valuesDoNotFit: 79
            }
        }
    }
}
