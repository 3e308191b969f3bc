// Dataset readers (DFDC metadata.json, CSV, real/ + fake/ folders) and the grouping that keeps
// related files on one side of a split. The first step of training and evaluation: data/ turns
// this list into cached face crops (facecache.c) and splits (split.c). Contract in dataset.h.
#include "dfdetect/data/dataset.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_internal.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"

// Largest labels file read (the whole file is loaded: 1 GiB is millions of rows).
#define MAX_LIST_BYTES ((size_t)1 << 30)

// ---- names ----

const char *dfd_label_name(dfd_label label)
{
    return label == DFD_LABEL_REAL ? "REAL" : label == DFD_LABEL_FAKE ? "FAKE" : "?";
}

dfd_status dfd_label_parse(dfd_label *out, const char *text)
{
    while (*text == ' ' || *text == '\t') {
        text++;
    }
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t')) {
        n--;
    }
    if ((n == 4 && strncasecmp(text, "real", 4) == 0) || (n == 1 && text[0] == '0')) {
        *out = DFD_LABEL_REAL;
        return DFD_OK;
    }
    if ((n == 4 && strncasecmp(text, "fake", 4) == 0) || (n == 1 && text[0] == '1')) {
        *out = DFD_LABEL_FAKE;
        return DFD_OK;
    }
    return DFD_ERR_FORMAT;
}

static const char *const image_exts[] = { ".jpg", ".jpeg", ".png" };
static const char *const video_exts[] = { ".mp4", ".mov",  ".m4v", ".mkv", ".webm", ".avi",
                                          ".mpg", ".mpeg", ".ts",  ".flv", ".wmv",  ".3gp" };

static bool ext_in(const char *name, const char *const *exts, size_t n)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < n; i++) {
        if (strcasecmp(dot, exts[i]) == 0) {
            return true;
        }
    }
    return false;
}

dfd_media_kind dfd_media_kind_of(const char *path)
{
    return ext_in(path, image_exts, sizeof image_exts / sizeof image_exts[0]) ? DFD_MEDIA_IMAGE
                                                                              : DFD_MEDIA_VIDEO;
}

const char *dfd_media_kind_name(dfd_media_kind kind)
{
    return kind == DFD_MEDIA_IMAGE ? "image" : "video";
}

bool dfd_media_is_known(const char *name)
{
    return name[0] != '.' && (ext_in(name, image_exts, sizeof image_exts / sizeof image_exts[0]) ||
                              ext_in(name, video_exts, sizeof video_exts / sizeof video_exts[0]));
}

const char *dfd_dataset_format_name(dfd_dataset_format f)
{
    return f == DFD_DATASET_DFDC ? "dfdc" : f == DFD_DATASET_CSV ? "csv" : "folders";
}

dfd_dataset_opts dfd_dataset_opts_default(void)
{
    dfd_dataset_opts o = { .group_column = NULL, .check_files = true };
    return o;
}

// ---- building ----

// Tokens of one item for grouping (see dataset.h): group value, original, own name.
enum {
    N_TOKENS = 3
};

typedef struct builder {
    dfd_dataset *ds;
    const dfd_dataset_opts *opts;
    data_strpool pool;
    size_t cap;
    const char *(*tokens)[N_TOKENS]; // per item, NULL where absent
    data_strmap files;               // file -> item, for duplicates
} builder;

// "<folder and extension stripped>" of a name, as a pool string with a prefix ("f:").
static const char *name_token(builder *b, const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char buf[512];
    int len = snprintf(buf, sizeof buf, "f:%.*s", (int)(n < 500 ? n : 500), base);
    return data_strpool_dupn(&b->pool, buf, (size_t)len);
}

// Prefix "where: " for messages about a row: "<source>:<line>: " or "<source>: ".
static void where(char *out, size_t n, const builder *b, size_t line)
{
    if (line) {
        snprintf(out, n, "%s:%zu: ", b->ds->source, line);
    } else if (b->ds->format != DFD_DATASET_FOLDERS) {
        snprintf(out, n, "%s: ", b->ds->source);
    } else {
        out[0] = '\0';
    }
}

// Append one item. Strings are copied; original/method/split/group may be NULL or empty (absent).
static dfd_status add_item(builder *b, const char *file, dfd_label label, const char *original,
                           const char *method, const char *split, const char *group, size_t line,
                           dfd_error *err)
{
    dfd_dataset *ds = b->ds;
    char at[600];
    where(at, sizeof at, b, line);
    if (!file[0]) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%sempty file name", at);
    }
    if (ds->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        dfd_dataset_item *items = dfd_realloc(ds->items, cap * sizeof *items);
        if (!items) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%sout of memory", at);
        }
        ds->items = items;
        const char *(*tok)[N_TOKENS] = dfd_realloc(b->tokens, cap * sizeof *tok);
        if (!tok) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%sout of memory", at);
        }
        b->tokens = tok;
        b->cap = cap;
    }
    dfd_dataset_item *it = &ds->items[ds->n];
    memset(it, 0, sizeof *it);
    it->file = data_strpool_dup(&b->pool, file);
    size_t rlen = strlen(ds->root);
    char *path = NULL;
    if (file[0] == '/' || rlen == 0) {
        path = data_strpool_dup(&b->pool, file);
    } else {
        size_t flen = strlen(file);
        path = data_strpool_alloc(&b->pool, rlen + 1 + flen);
        if (path) {
            memcpy(path, ds->root, rlen);
            path[rlen] = '/';
            memcpy(path + rlen + 1, file, flen + 1);
        }
    }
    it->path = path;
    it->label = label;
    it->kind = dfd_media_kind_of(file);
    it->original = original && original[0] ? data_strpool_dup(&b->pool, original) : NULL;
    it->method = method && method[0] ? data_strpool_dup(&b->pool, method) : NULL;
    it->split = split && split[0] ? data_strpool_dup(&b->pool, split) : NULL;
    it->line = line;
    it->i_original = DFD_NO_ITEM;
    const char **tok = b->tokens[ds->n];
    tok[0] = NULL;
    if (group && group[0]) {
        size_t glen = strlen(group);
        char *g = data_strpool_alloc(&b->pool, glen + 2);
        if (g) {
            memcpy(g, "g:", 2);
            memcpy(g + 2, group, glen);
        }
        tok[0] = g;
    }
    tok[1] = it->original ? name_token(b, it->original) : NULL;
    tok[2] = name_token(b, file);
    if (!it->file || !it->path || (original && original[0] && !it->original) ||
        (method && method[0] && !it->method) || (split && split[0] && !it->split) ||
        (group && group[0] && !tok[0]) || (it->original && !tok[1]) || !tok[2]) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%sout of memory", at);
    }
    size_t first;
    bool dup;
    if (!data_strmap_put(&b->files, it->file, ds->n, &first, &dup)) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%sout of memory", at);
    }
    if (dup) {
        if (ds->items[first].line) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s%s is listed twice (first on line %zu)",
                                 at, file, ds->items[first].line);
        }
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s%s is listed twice", at, file);
    }
    if (b->opts->check_files) {
        dfd_error e2;
        dfd_status st = dfd_file_check_regular(it->path, NULL, &e2);
        if (st) {
            return dfd_error_set(err, st, "%s%s", at, e2.msg);
        }
    }
    ds->n++;
    return DFD_OK;
}

static size_t uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

// Join items sharing a token into groups, number the groups in order of first appearance, and
// resolve originals to item indices.
static dfd_status finish(builder *b, dfd_error *err)
{
    dfd_dataset *ds = b->ds;
    if (ds->n == 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: no videos or images listed", ds->source);
    }
    size_t *parent = dfd_malloc(ds->n * sizeof *parent);
    size_t *gid = dfd_malloc(ds->n * sizeof *gid);
    data_strmap tokens = { 0 }, names = { 0 };
    dfd_status st = DFD_OK;
    if (!parent || !gid) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", ds->source);
        goto done;
    }
    for (size_t i = 0; i < ds->n; i++) {
        parent[i] = i;
    }
    for (size_t i = 0; i < ds->n && !st; i++) {
        for (int k = 0; k < N_TOKENS; k++) {
            const char *t = b->tokens[i][k];
            size_t owner;
            bool found;
            if (!t) {
                continue;
            }
            if (!data_strmap_put(&tokens, t, i, &owner, &found)) {
                st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", ds->source);
                break;
            }
            size_t ra = uf_find(parent, i), rb = uf_find(parent, owner);
            // The smaller index becomes the root, so a group's root is its first item.
            if (ra < rb) {
                parent[rb] = ra;
            } else if (rb < ra) {
                parent[ra] = rb;
            }
        }
    }
    if (st) {
        goto done;
    }
    ds->n_groups = 0;
    for (size_t i = 0; i < ds->n; i++) {
        size_t r = uf_find(parent, i);
        if (r == i) {
            gid[i] = ds->n_groups++;
            const char *const *tok = b->tokens[i];
            const char *t = tok[0] ? tok[0] : tok[1] ? tok[1] : tok[2];
            ds->items[i].group = t + 2; // without the "g:" / "f:" prefix
        } else {
            gid[i] = gid[r];
            ds->items[i].group = ds->items[r].group;
        }
        ds->items[i].i_group = gid[i];
    }
    // Originals: the first item whose own name is the original's name.
    for (size_t i = 0; i < ds->n && !st; i++) {
        size_t first;
        bool found;
        if (!data_strmap_put(&names, b->tokens[i][2], i, &first, &found)) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", ds->source);
        }
    }
    for (size_t i = 0; i < ds->n && !st; i++) {
        size_t j;
        const char *t = b->tokens[i][1];
        if (t && data_strmap_get(&names, t, &j) && j != i) {
            ds->items[i].i_original = j;
        }
    }
done:
    data_strmap_free(&tokens);
    data_strmap_free(&names);
    dfd_free(parent);
    dfd_free(gid);
    return st;
}

// ---- CSV ----

static int column_of(const data_csv *r, const char *const *names, size_t n_names)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        for (size_t k = 0; k < n_names; k++) {
            if (strcasecmp(data_csv_field(r, i), names[k]) == 0) {
                return (int)i;
            }
        }
    }
    return -1;
}

static dfd_status read_csv(builder *b, const char *text, size_t n, dfd_error *err)
{
    dfd_dataset *ds = b->ds;
    data_csv r = { .p = text, .end = text + n, .line = 1 };
    if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        r.p += 3; // UTF-8 byte-order mark
    }
    dfd_status st = DFD_OK;
    size_t line = 0;
    int rc;
    while ((rc = data_csv_next(&r, &line)) == 1 && data_csv_blank(&r)) {
    }
    if (rc != 1) {
        st = rc == -2 ? dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", ds->source)
             : rc == -1
                 ? dfd_error_set(err, DFD_ERR_FORMAT, "%s:%zu: unterminated quoted field",
                                 ds->source, line)
                 : dfd_error_set(err, DFD_ERR_FORMAT, "%s: empty file: no header row", ds->source);
        goto done;
    }
    static const char *const file_names[] = { "file", "filename", "path", "video", "image" };
    static const char *const label_names[] = { "label" };
    static const char *const orig_names[] = { "original" };
    static const char *const method_names[] = { "method" };
    static const char *const split_names[] = { "split" };
    const char *group_name = b->opts->group_column ? b->opts->group_column : "identity_group";
    size_t n_cols = r.n_fields;
    int c_file = column_of(&r, file_names, 5), c_label = column_of(&r, label_names, 1);
    int c_orig = column_of(&r, orig_names, 1), c_method = column_of(&r, method_names, 1);
    int c_split = column_of(&r, split_names, 1), c_group = column_of(&r, &group_name, 1);
    if (c_file < 0 || c_label < 0) {
        st = dfd_error_set(err, DFD_ERR_FORMAT,
                           "%s:%zu: the header must name a '%s' column (found: %s%s%s%s)",
                           ds->source, line, c_file < 0 ? "file" : "label", data_csv_field(&r, 0),
                           n_cols > 1 ? ", " : "", n_cols > 1 ? data_csv_field(&r, 1) : "",
                           n_cols > 2 ? ", ..." : "");
        goto done;
    }
    if (b->opts->group_column && c_group < 0) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s:%zu: no column named '%s' to group by",
                           ds->source, line, b->opts->group_column);
        goto done;
    }
    ds->has_original = c_orig >= 0;
    ds->has_method = c_method >= 0;
    ds->has_group_column = c_group >= 0;
    while (!st && (rc = data_csv_next(&r, &line)) == 1) {
        if (data_csv_blank(&r)) {
            continue;
        }
        if (r.n_fields != n_cols) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%s:%zu: %zu field%s, the header has %zu",
                               ds->source, line, r.n_fields, r.n_fields == 1 ? "" : "s", n_cols);
            break;
        }
        dfd_label label;
        const char *ls = data_csv_field(&r, (size_t)c_label);
        if (dfd_label_parse(&label, ls) != DFD_OK) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%s:%zu: label '%s' is not REAL, FAKE, 0 or 1",
                               ds->source, line, ls);
            break;
        }
#define OPT_FIELD(c) ((c) >= 0 ? data_csv_field(&r, (size_t)(c)) : NULL)
        st = add_item(b, data_csv_field(&r, (size_t)c_file), label, OPT_FIELD(c_orig),
                      OPT_FIELD(c_method), OPT_FIELD(c_split), OPT_FIELD(c_group), line, err);
#undef OPT_FIELD
    }
    if (!st && rc == -1) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s:%zu: unterminated quoted field", ds->source,
                           line);
    } else if (!st && rc == -2) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", ds->source);
    }
done:
    data_csv_free(&r);
    return st;
}

// ---- DFDC metadata.json ----

static size_t line_at(const char *text, size_t pos)
{
    size_t line = 1;
    for (size_t i = 0; i < pos; i++) {
        line += text[i] == '\n';
    }
    return line;
}

// Line of the object key "name" in the JSON text (0 if not found): an occurrence of the quoted
// name followed by a colon. Names are file names, which need no JSON escapes in practice.
static size_t key_line(const char *text, const char *name, const char **from)
{
    size_t n = strlen(name);
    for (const char *p = *from; (p = strchr(p, '"')) != NULL; p++) {
        if (strncmp(p + 1, name, n) != 0 || p[n + 1] != '"') {
            continue;
        }
        const char *q = p + n + 2;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
            q++;
        }
        if (*q == ':') {
            *from = q; // keys come in order: the next search starts here
            return line_at(text, (size_t)(p - text));
        }
    }
    return 0;
}

static dfd_status read_dfdc(builder *b, const char *text, size_t n, dfd_error *err)
{
    dfd_dataset *ds = b->ds;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, false);
    if (!root) {
        size_t pos = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s:%zu: not valid JSON", ds->source,
                             line_at(text, pos));
    }
    dfd_status st = DFD_OK;
    if (!cJSON_IsObject(root)) {
        st = dfd_error_set(err, DFD_ERR_FORMAT,
                           "%s: expected an object {\"file\": {\"label\": ...}, ...}", ds->source);
    }
    ds->has_original = true;
    const char *search = text;
    for (cJSON *e = root->child; e && !st; e = e->next) {
        size_t line = key_line(text, e->string, &search);
        char at[600];
        where(at, sizeof at, b, line);
        cJSON *label = cJSON_GetObjectItemCaseSensitive(e, "label");
        cJSON *orig = cJSON_GetObjectItemCaseSensitive(e, "original");
        cJSON *split = cJSON_GetObjectItemCaseSensitive(e, "split");
        cJSON *method = cJSON_GetObjectItemCaseSensitive(e, "method");
        dfd_label lab;
        if (!cJSON_IsObject(e)) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%sentry '%s' is not an object", at, e->string);
        } else if (!cJSON_IsString(label) && !cJSON_IsNumber(label)) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%sentry '%s' has no label", at, e->string);
        } else if (cJSON_IsString(label) ? dfd_label_parse(&lab, label->valuestring) != DFD_OK
                                         : (label->valuedouble != 0 && label->valuedouble != 1)) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%sentry '%s': label is not REAL, FAKE, 0 or 1",
                               at, e->string);
        } else if ((orig && !cJSON_IsString(orig) && !cJSON_IsNull(orig)) ||
                   (split && !cJSON_IsString(split) && !cJSON_IsNull(split))) {
            st = dfd_error_set(err, DFD_ERR_FORMAT,
                               "%sentry '%s': original and split must be strings or null", at,
                               e->string);
        } else {
            if (cJSON_IsNumber(label)) {
                lab = label->valuedouble == 1 ? DFD_LABEL_FAKE : DFD_LABEL_REAL;
            }
            ds->has_method = ds->has_method || cJSON_IsString(method);
            st = add_item(b, e->string, lab, cJSON_IsString(orig) ? orig->valuestring : NULL,
                          cJSON_IsString(method) ? method->valuestring : NULL,
                          cJSON_IsString(split) ? split->valuestring : NULL, NULL, line, err);
        }
    }
    cJSON_Delete(root);
    return st;
}

// ---- real/ + fake/ folders ----

// Find the subfolder of root named `name` in any case; writes its name into out.
static bool find_subdir(char *out, size_t n, const char *root, const char *name)
{
    DIR *d = opendir(root);
    if (!d) {
        return false;
    }
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (strcasecmp(e->d_name, name) != 0) {
            continue;
        }
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            snprintf(out, n, "%s", e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

static dfd_status read_folders(builder *b, const char *real_dir, const char *fake_dir,
                               dfd_error *err)
{
    const char *sub[2] = { real_dir, fake_dir };
    dfd_status st = DFD_OK;
    for (int k = 0; k < 2 && !st; k++) {
        if (!sub[k]) {
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", b->ds->root, sub[k]);
        char **names;
        size_t n;
        st = dfd_dir_list_files(&names, &n, dir, err);
        for (size_t i = 0; i < n && !st; i++) {
            if (!dfd_media_is_known(names[i])) {
                continue;
            }
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", sub[k], names[i]);
            st = add_item(b, file, k == 0 ? DFD_LABEL_REAL : DFD_LABEL_FAKE, NULL, NULL, NULL, NULL,
                          0, err);
        }
        dfd_dir_list_free(names, n);
    }
    return st;
}

// ---- loading ----

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

// Decide the layout of `path`: fills the source file (or folder) and the root.
static dfd_status pick_layout(builder *b, const char *path, char real_dir[256], char fake_dir[256],
                              bool *has_real, bool *has_fake, dfd_error *err)
{
    dfd_dataset *ds = b->ds;
    char buf[4096];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            return dfd_error_set(err, DFD_ERR_NOT_FOUND, "%s: no such file or folder", path);
        }
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s", path);
    }
    const char *source = path, *root = NULL;
    size_t root_len = 0;
    if (S_ISDIR(sb.st_mode)) {
        root = path;
        root_len = strlen(path);
        while (root_len > 1 && path[root_len - 1] == '/') {
            root_len--;
        }
        *has_real = find_subdir(real_dir, 256, path, "real");
        *has_fake = find_subdir(fake_dir, 256, path, "fake");
        snprintf(buf, sizeof buf, "%.*s/metadata.json", (int)root_len, path);
        if (is_file(buf)) {
            ds->format = DFD_DATASET_DFDC;
            source = buf;
        } else {
            snprintf(buf, sizeof buf, "%.*s/labels.csv", (int)root_len, path);
            if (is_file(buf)) {
                ds->format = DFD_DATASET_CSV;
                source = buf;
            } else if (*has_real || *has_fake) {
                ds->format = DFD_DATASET_FOLDERS;
            } else {
                return dfd_error_set(err, DFD_ERR_INVALID,
                                     "%s: not a dataset folder (no metadata.json, labels.csv, or "
                                     "real/ and fake/ folders)",
                                     path);
            }
        }
    } else {
        ds->format = ends_with(path, ".json") ? DFD_DATASET_DFDC : DFD_DATASET_CSV;
        const char *slash = strrchr(path, '/');
        root = slash ? path : ".";
        root_len = slash ? (size_t)(slash - path) : 1;
        if (slash == path) {
            root_len = 1; // "/labels.csv": the root folder
        }
    }
    char *src = data_strpool_dup(&b->pool, source);
    char *rt = data_strpool_dupn(&b->pool, root, root_len);
    if (!src || !rt) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    ds->source = src;
    ds->root = rt;
    return DFD_OK;
}

dfd_status dfd_dataset_load(dfd_dataset *ds, const char *path, const dfd_dataset_opts *opts,
                            dfd_error *err)
{
    memset(ds, 0, sizeof *ds);
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dataset: empty path");
    }
    dfd_dataset_opts defaults = dfd_dataset_opts_default();
    builder b = { .ds = ds, .opts = opts ? opts : &defaults };
    char real_dir[256] = "", fake_dir[256] = "";
    bool has_real = false, has_fake = false;
    void *text = NULL;
    size_t n = 0;
    dfd_status st = pick_layout(&b, path, real_dir, fake_dir, &has_real, &has_fake, err);
    if (!st && ds->format != DFD_DATASET_FOLDERS) {
        st = dfd_file_read_all(&text, &n, ds->source, MAX_LIST_BYTES, err);
    }
    if (!st) {
        switch (ds->format) {
        case DFD_DATASET_CSV:
            st = read_csv(&b, text, n, err);
            break;
        case DFD_DATASET_DFDC:
            st = read_dfdc(&b, text, n, err);
            break;
        case DFD_DATASET_FOLDERS:
            st = read_folders(&b, has_real ? real_dir : NULL, has_fake ? fake_dir : NULL, err);
            break;
        }
    }
    dfd_free(text);
    if (!st) {
        st = finish(&b, err);
    }
    dfd_free(b.tokens);
    data_strmap_free(&b.files);
    dataset_store *store = NULL;
    if (!st) {
        store = dfd_malloc(sizeof *store);
        if (!store) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    if (st) {
        data_strpool_free(&b.pool);
        dfd_free(ds->items);
        memset(ds, 0, sizeof *ds);
        return st;
    }
    store->pool = b.pool;
    ds->priv = store;
    return DFD_OK;
}

void dfd_dataset_free(dfd_dataset *ds)
{
    if (!ds) {
        return;
    }
    dataset_store *store = ds->priv;
    if (store) {
        data_strpool_free(&store->pool);
        dfd_free(store);
    }
    dfd_free(ds->items);
    memset(ds, 0, sizeof *ds);
}

// ---- summary ----

static int cmp_method(const void *a, const void *b)
{
    const dfd_dataset_method *x = a, *y = b;
    if (x->n != y->n) {
        return x->n > y->n ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

dfd_status dfd_dataset_summarize(dfd_dataset_summary *s, const dfd_dataset *ds)
{
    memset(s, 0, sizeof *s);
    s->n = ds->n;
    s->n_groups = ds->n_groups;
    size_t *gsize = dfd_calloc(ds->n_groups ? ds->n_groups : 1, sizeof *gsize);
    uint8_t *glabels = dfd_calloc(ds->n_groups ? ds->n_groups : 1, 1);
    data_strmap methods = { 0 };
    dfd_status st = gsize && glabels ? DFD_OK : DFD_ERR_NOMEM;
    for (size_t i = 0; i < ds->n && !st; i++) {
        const dfd_dataset_item *it = &ds->items[i];
        s->n_label[it->label]++;
        s->n_kind[it->kind]++;
        gsize[it->i_group]++;
        glabels[it->i_group] |= (uint8_t)(1u << it->label);
        if (it->label == DFD_LABEL_FAKE && it->original) {
            s->n_fake_original++;
            s->n_original_found += it->i_original != DFD_NO_ITEM;
        }
        if (ds->has_method) {
            const char *m = it->method ? it->method : "(none)";
            size_t slot;
            bool found;
            if (!data_strmap_put(&methods, m, s->n_methods, &slot, &found)) {
                st = DFD_ERR_NOMEM;
                break;
            }
            if (!found) {
                dfd_dataset_method *grown =
                    dfd_realloc(s->methods, (s->n_methods + 1) * sizeof *grown);
                if (!grown) {
                    st = DFD_ERR_NOMEM;
                    break;
                }
                s->methods = grown;
                s->methods[s->n_methods++] = (dfd_dataset_method){ m, 0 };
            }
            s->methods[slot].n++;
        }
    }
    for (size_t g = 0; g < ds->n_groups && !st; g++) {
        s->n_groups_mixed += glabels[g] == 3;
        s->max_group = gsize[g] > s->max_group ? gsize[g] : s->max_group;
    }
    if (s->methods) {
        qsort(s->methods, s->n_methods, sizeof *s->methods, cmp_method);
    }
    data_strmap_free(&methods);
    dfd_free(gsize);
    dfd_free(glabels);
    if (st) {
        dfd_dataset_summary_free(s);
    }
    return st;
}

void dfd_dataset_summary_free(dfd_dataset_summary *s)
{
    if (s) {
        dfd_free(s->methods);
        memset(s, 0, sizeof *s);
    }
}
