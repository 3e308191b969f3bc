// Atomic file writes (temporary name + rename), whole-file reads and small path checks.
#include "dfdetect/util/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"

struct dfd_atomic_file {
    FILE *stream;
    char *path;     // destination
    char *tmp_path; // where the bytes go until commit
};

dfd_status dfd_atomic_file_open(dfd_atomic_file **out, const char *path, dfd_error *err)
{
    *out = NULL;
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "output path is empty");
    }
    dfd_atomic_file *f = dfd_calloc(1, sizeof *f);
    size_t plen = strlen(path);
    char *tmp = dfd_malloc(plen + sizeof ".tmp.XXXXXX");
    char *dst = dfd_strdup(path);
    if (!f || !tmp || !dst) {
        dfd_free(f);
        dfd_free(tmp);
        dfd_free(dst);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        dfd_free(f);
        dfd_free(tmp);
        dfd_free(dst);
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot create", path);
    }
    // mkstemp creates 0600; outputs are ordinary user files.
    (void)fchmod(fd, 0644);
    f->stream = fdopen(fd, "wb");
    if (!f->stream) {
        int e = errno;
        close(fd);
        unlink(tmp);
        dfd_free(f);
        dfd_free(tmp);
        dfd_free(dst);
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot open", path);
    }
    f->path = dst;
    f->tmp_path = tmp;
    *out = f;
    return DFD_OK;
}

FILE *dfd_atomic_file_stream(dfd_atomic_file *f)
{
    return f->stream;
}

static void atomic_file_free(dfd_atomic_file *f)
{
    dfd_free(f->path);
    dfd_free(f->tmp_path);
    dfd_free(f);
}

dfd_status dfd_atomic_file_commit(dfd_atomic_file *f, dfd_error *err)
{
    dfd_status st = DFD_OK;
    int e = 0;
    if (fflush(f->stream) != 0 || ferror(f->stream)) {
        e = errno ? errno : EIO;
    } else if (fsync(fileno(f->stream)) != 0 && errno != EINVAL) {
        e = errno; // EINVAL: the file system does not support fsync (e.g. some FUSE); not fatal
    }
    if (fclose(f->stream) != 0 && e == 0) {
        e = errno;
    }
    if (e == 0 && rename(f->tmp_path, f->path) != 0) {
        e = errno;
    }
    if (e != 0) {
        unlink(f->tmp_path);
        st = dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot write", f->path);
    }
    atomic_file_free(f);
    return st;
}

void dfd_atomic_file_abort(dfd_atomic_file *f)
{
    if (!f) {
        return;
    }
    fclose(f->stream);
    unlink(f->tmp_path);
    atomic_file_free(f);
}

dfd_status dfd_file_write_atomic(const char *path, const void *data, size_t n_bytes, dfd_error *err)
{
    dfd_atomic_file *f;
    dfd_status st = dfd_atomic_file_open(&f, path, err);
    if (st) {
        return st;
    }
    if (n_bytes > 0 && fwrite(data, 1, n_bytes, f->stream) != n_bytes) {
        int e = errno ? errno : EIO;
        dfd_atomic_file_abort(f);
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot write", path);
    }
    return dfd_atomic_file_commit(f, err);
}

dfd_status dfd_file_check_regular(const char *path, size_t *size_out, dfd_error *err)
{
    struct stat sb;
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "empty file name");
    }
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            return dfd_error_set(err, DFD_ERR_NOT_FOUND, "%s: no such file", path);
        }
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s", path);
    }
    if (S_ISDIR(sb.st_mode)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: is a directory, not a file", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: is not a regular file", path);
    }
    if (sb.st_size == 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: file is empty (0 bytes)", path);
    }
    if (access(path, R_OK) != 0) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s", path);
    }
    if (size_out) {
        *size_out = (size_t)sb.st_size;
    }
    return DFD_OK;
}

dfd_status dfd_file_read_all(void **data, size_t *n_bytes, const char *path, size_t max_bytes,
                             dfd_error *err)
{
    *data = NULL;
    *n_bytes = 0;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            return dfd_error_set(err, DFD_ERR_NOT_FOUND, "%s: no such file", path);
        }
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > max_bytes) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: %lld bytes exceeds the limit of %zu", path,
                             (long long)sb.st_size, max_bytes);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot open", path);
    }
    size_t n = (size_t)sb.st_size;
    size_t alloc_n;
    unsigned char *buf = NULL;
    if (dfd_size_add(&alloc_n, n, 1)) {
        buf = dfd_malloc(alloc_n);
    }
    if (!buf) {
        fclose(fp);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, fp);
    int read_failed = ferror(fp);
    fclose(fp);
    if (read_failed || got != n) {
        dfd_free(buf);
        return dfd_error_set(err, DFD_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *n_bytes = n;
    return DFD_OK;
}

dfd_status dfd_mkdir_p(const char *path, dfd_error *err)
{
    char *p = dfd_strdup(path);
    if (!p) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    dfd_status st = DFD_OK;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n && st == DFD_OK; i++) {
        if (p[i] != '/' && p[i] != '\0') {
            continue;
        }
        char saved = p[i];
        p[i] = '\0';
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) {
                st = dfd_error_set(err, DFD_ERR_INVALID, "%s: exists and is not a directory", p);
            }
        } else if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            st = dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot create directory", p);
        }
        p[i] = saved;
    }
    dfd_free(p);
    return st;
}

double dfd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
