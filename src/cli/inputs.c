// Expanding a command's positional arguments into the files to process.
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"

static const char *const VIDEO_EXTS[] = { ".mp4", ".mov",  ".m4v", ".mkv", ".webm", ".avi",
                                          ".mpg", ".mpeg", ".ts",  ".flv", ".wmv",  ".3gp" };
static const char *const IMAGE_EXTS[] = { ".png", ".jpg", ".jpeg" };

static bool has_ext(const char *name, const char *const *exts, size_t n)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < n; i++) {
        if (strcasecmp(dot, exts[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool cli_is_video_name(const char *name)
{
    return has_ext(name, VIDEO_EXTS, sizeof VIDEO_EXTS / sizeof VIDEO_EXTS[0]);
}

bool cli_is_image_name(const char *name)
{
    return has_ext(name, IMAGE_EXTS, sizeof IMAGE_EXTS / sizeof IMAGE_EXTS[0]);
}

static bool wanted(const char *name, int kinds)
{
    return ((kinds & CLI_INPUT_VIDEO) && cli_is_video_name(name)) ||
           ((kinds & CLI_INPUT_IMAGE) && cli_is_image_name(name));
}

typedef struct path_list {
    char **v;
    size_t n, cap;
} path_list;

static int add(path_list *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nv = dfd_realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            return -1;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n] = dfd_strdup(path);
    return l->v[l->n++] ? 0 : -1;
}

void cli_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++) {
        dfd_free(paths[i]);
    }
    dfd_free(paths);
}

static int collect(path_list *l, const char *const *args, size_t n, int kinds)
{
    for (size_t i = 0; i < n; i++) {
        char **names;
        size_t count;
        dfd_error err;
        dfd_status st = dfd_dir_list_files(&names, &count, args[i], &err);
        if (st == DFD_ERR_INVALID || st == DFD_ERR_NOT_FOUND) { // a file (or missing: reported)
            if (add(l, args[i])) {
                cli_error("out of memory");
                return -1;
            }
            continue;
        }
        if (st) {
            cli_fail(&err);
            return -1;
        }
        size_t found = 0;
        for (size_t k = 0; k < count; k++) {
            char path[4096];
            int len = snprintf(path, sizeof path, "%s/%s", args[i], names[k]);
            if (!wanted(names[k], kinds) || len <= 0 || (size_t)len >= sizeof path) {
                continue;
            }
            if (add(l, path)) {
                dfd_dir_list_free(names, count);
                cli_error("out of memory");
                return -1;
            }
            found++;
        }
        dfd_dir_list_free(names, count);
        if (!found) {
            cli_error("%s: no %s files in this folder", args[i],
                      kinds == CLI_INPUT_VIDEO ? "video" : "video or image");
        }
    }
    return 0;
}

int cli_collect_inputs(char ***paths, size_t *n_paths, const char *const *args, size_t n, int kinds)
{
    path_list l = { 0 };
    if (collect(&l, args, n, kinds)) {
        cli_paths_free(l.v, l.n);
        *paths = NULL;
        *n_paths = 0;
        return -1;
    }
    *paths = l.v;
    *n_paths = l.n;
    return 0;
}

dfd_status cli_load_datasets(dfd_dataset *ds, const char *const *paths, size_t n, dfd_error *err)
{
    memset(ds, 0, sizeof *ds);
    if (n == 1) {
        return dfd_dataset_load(ds, paths[0], NULL, err);
    }
    dfd_dataset *parts = dfd_calloc(n ? n : 1, sizeof *parts);
    if (!parts) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "out of memory loading datasets");
    }
    dfd_status st = DFD_OK;
    for (size_t i = 0; !st && i < n; i++) {
        st = dfd_dataset_load(&parts[i], paths[i], NULL, err);
    }
    if (!st) {
        st = dfd_dataset_concat(ds, parts, n, err);
    }
    for (size_t i = 0; i < n; i++) {
        dfd_dataset_free(&parts[i]);
    }
    dfd_free(parts);
    return st;
}
