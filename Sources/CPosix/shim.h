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

// The same between two open directories.
static inline int ehr_renameat_noreplace(int fromdir, const char *from, int todir, const char *to) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, fromdir, from, todir, to, 1 /* RENAME_NOREPLACE */);
#else
    errno = ENOSYS;
    return -1;
#endif
}

#include <sys/vfs.h>

// statfs's f_type names the filesystem (tmpfs, overlay, …); Glibc's Swift module lacks statfs.
static inline int ehr_filesystem_type(const char *path, unsigned long *type) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    *type = (unsigned long)fs.f_type;
    return 0;
}

// fcntl is variadic, which Swift cannot call: clear O_NONBLOCK after a non-blocking open.
static inline int ehr_clear_nonblock(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

// copy_file_range: the kernel copies between two files without the bytes passing through us.
// Glibc's Swift module hides it (it needs _GNU_SOURCE): the raw system call.
static inline long ehr_copy_file_range(int in, int out, unsigned long length) {
#ifdef SYS_copy_file_range
    return syscall(SYS_copy_file_range, in, (void *)0, out, (void *)0, length, 0u);
#else
    errno = ENOSYS;
    return -1;
#endif
}
