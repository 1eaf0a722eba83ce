#include <fcntl.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

// renameat2(RENAME_NOREPLACE): an atomic rename that fails with EEXIST instead of replacing.
// Glibc's Swift module hides renameat2 (it needs _GNU_SOURCE) and syscall() is variadic, which
// Swift cannot call, so wrap the raw system call here.
static inline int ehr_rename_noreplace(const char *from, const char *to) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
#else
    errno = ENOSYS;
    return -1;
#endif
}
