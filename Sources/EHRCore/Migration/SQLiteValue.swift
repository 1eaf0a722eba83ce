/// A value as SQLite holds it, without copying: text and blob point into SQLite's memory and
/// are valid until the statement steps again.
public enum SQLiteValue {
    case null
    case integer(Int64)
    case real(Double)
    case text(UnsafeRawBufferPointer)
    case blob(UnsafeRawBufferPointer)
}
