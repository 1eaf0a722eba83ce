import Foundation

extension Repository {
    /// The environment variable that names the shared directory (the one holding `corpus/`).
    public static let sharedDirectoryVariable = "EHRDATA_SHARED_DIR"

    /// The directory shared by checkouts of the project (test corpora under `corpus/`):
    /// `$EHRDATA_SHARED_DIR` if set, else `shared` beside the checkout (`../shared` from the
    /// package root). It may not exist; tests that need it fail, naming `sharedDirectoryOrigin`.
    public static var sharedDirectory: String {
        if let dir = ProcessInfo.processInfo.environment[sharedDirectoryVariable], !dir.isEmpty { return dir }
        return URL(fileURLWithPath: root).deletingLastPathComponent().appendingPathComponent("shared").standardizedFileURL.path
    }

    /// How `sharedDirectory` was chosen, for failure messages.
    public static var sharedDirectoryOrigin: String {
        if let dir = ProcessInfo.processInfo.environment[sharedDirectoryVariable], !dir.isEmpty {
            return "from \(sharedDirectoryVariable)"
        }
        return "beside the checkout \(root); set \(sharedDirectoryVariable) to use another"
    }
}
