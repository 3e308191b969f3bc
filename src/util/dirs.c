// Directory listing, tree removal and whole-folder publishing.
#define _GNU_SOURCE // renameat2, nftw
#include "dfdetect/util/dirs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dfd_dir_list_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) {
        dfd_free(names[i]);
    }
    dfd_free(names);
}

dfd_status dfd_dir_list_files(char ***names, size_t *n, const char *dir, dfd_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        if (e == ENOENT) {
            return dfd_error_set(err, DFD_ERR_NOT_FOUND, "%s: no such directory", dir);
        }
        if (e == ENOTDIR) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: not a directory", dir);
        }
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot open directory", dir);
    }
    char **out = NULL;
    size_t count = 0, cap = 0;
    dfd_status st = DFD_OK;
    for (struct dirent *e; !st && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        struct stat sb;
        int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (len < 0 || (size_t)len >= sizeof path || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            continue;
        }
        if (count == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **grown = dfd_realloc(out, nc * sizeof *grown);
            if (!grown) {
                st = DFD_ERR_NOMEM;
                break;
            }
            out = grown;
            cap = nc;
        }
        out[count] = dfd_strdup(e->d_name);
        if (!out[count]) {
            st = DFD_ERR_NOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (st) {
        dfd_dir_list_free(out, count);
        return dfd_error_set(err, st, "%s: out of memory listing the directory", dir);
    }
    if (count) {
        qsort(out, count, sizeof *out, cmp_name);
    }
    *names = out;
    *n = count;
    return DFD_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

dfd_status dfd_remove_tree(const char *path, dfd_error *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        return errno == ENOENT
                   ? DFD_OK
                   : dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot remove", path);
    }
    int rc =
        S_ISDIR(sb.st_mode) ? nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) : unlink(path);
    if (rc != 0) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot remove", path);
    }
    return DFD_OK;
}

dfd_status dfd_temp_dir_create(char *tmp, size_t n, const char *path, dfd_error *err)
{
    int len = snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    if (len < 0 || (size_t)len >= n) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: path too long", path);
    }
    if (!mkdtemp(tmp) || chmod(tmp, 0755) != 0) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno,
                                   "%s: cannot create a temporary directory", path);
    }
    return DFD_OK;
}

dfd_status dfd_dir_publish(const char *tmp, const char *path, dfd_error *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT) {
            return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot replace", path);
        }
        if (rename(tmp, path) != 0) {
            return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot move into place", path);
        }
        return DFD_OK;
    }
    if (!S_ISDIR(sb.st_mode)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: exists and is not a directory", path);
    }
    // Swap the two directories in one step, then remove the old content (now at tmp).
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
        return dfd_remove_tree(tmp, err);
    }
    // File systems without the exchange: move the old one aside first (a short window in which
    // `path` is missing, never half written).
    char old[4096];
    dfd_status st = dfd_temp_dir_create(old, sizeof old, path, err);
    if (st) {
        return st;
    }
    if (rename(path, old) != 0) {
        int e = errno;
        rmdir(old);
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot replace", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        (void)rename(old, path); // put the old one back (if this fails too, it stays at old)
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot move into place", path);
    }
    return dfd_remove_tree(old, err);
}
