// Several datasets as one: see dfd_dataset_concat in include/dfdetect/data/dataset.h.
#include <string.h>

#include "data_internal.h"
#include "dfdetect/data/dataset.h"
#include "dfdetect/util/alloc.h"

// A pool copy of s (NULL stays NULL); sets *ok false when out of memory.
static const char *dup_or_null(data_strpool *pool, const char *s, bool *ok)
{
    if (!s) {
        return NULL;
    }
    const char *c = data_strpool_dup(pool, s);
    if (!c) {
        *ok = false;
    }
    return c;
}

dfd_status dfd_dataset_concat(dfd_dataset *out, const dfd_dataset *parts, size_t n_parts,
                              dfd_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_parts == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dataset: nothing to concatenate");
    }
    size_t n = 0;
    for (size_t p = 0; p < n_parts; p++) {
        n += parts[p].n;
    }
    dataset_store *store = dfd_calloc(1, sizeof *store);
    dfd_dataset_item *items = dfd_calloc(n ? n : 1, sizeof *items);
    data_strmap paths;
    memset(&paths, 0, sizeof paths);
    bool ok = store && items;
    size_t k = 0, group_base = 0, part_base = 0;
    dfd_status st = DFD_OK;
    for (size_t p = 0; ok && !st && p < n_parts; p++) {
        const dfd_dataset *d = &parts[p];
        size_t d_parts = 1; // a part may itself be a concatenation
        for (size_t i = 0; ok && !st && i < d->n; i++, k++) {
            const dfd_dataset_item *s = &d->items[i];
            dfd_dataset_item *t = &items[k];
            *t = *s;
            t->file = dup_or_null(&store->pool, s->file, &ok);
            t->path = dup_or_null(&store->pool, s->path, &ok);
            t->original = dup_or_null(&store->pool, s->original, &ok);
            t->method = dup_or_null(&store->pool, s->method, &ok);
            t->split = dup_or_null(&store->pool, s->split, &ok);
            t->group = dup_or_null(&store->pool, s->group, &ok);
            t->i_group = s->i_group + group_base;
            t->part = s->part + part_base;
            d_parts = s->part + 1 > d_parts ? s->part + 1 : d_parts;
            t->i_original = s->i_original == DFD_NO_ITEM ? DFD_NO_ITEM : s->i_original + k - i;
            bool found = false;
            if (ok && !data_strmap_put(&paths, t->path, k, NULL, &found)) {
                ok = false;
            } else if (found) {
                st = dfd_error_set(err, DFD_ERR_FORMAT,
                                   "%s: %s is also in an earlier dataset (a file may be in one "
                                   "only, or it could land on both sides of a split)",
                                   d->source, s->file);
            }
        }
        group_base += d->n_groups;
        part_base += d_parts;
    }
    data_strmap_free(&paths);
    if (!ok && !st) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "dataset: out of memory joining datasets");
    }
    if (st) {
        if (store) {
            data_strpool_free(&store->pool);
        }
        dfd_free(store);
        dfd_free(items);
        return st;
    }
    const dfd_dataset *first = &parts[0];
    out->format = first->format;
    out->source = data_strpool_dup(&store->pool, first->source ? first->source : "");
    out->root = data_strpool_dup(&store->pool, first->root ? first->root : "");
    if (!out->source || !out->root) {
        data_strpool_free(&store->pool);
        dfd_free(store);
        dfd_free(items);
        memset(out, 0, sizeof *out);
        return dfd_error_set(err, DFD_ERR_NOMEM, "dataset: out of memory joining datasets");
    }
    out->items = items;
    out->n = n;
    out->n_groups = group_base;
    for (size_t p = 0; p < n_parts; p++) {
        out->has_original |= parts[p].has_original;
        out->has_method |= parts[p].has_method;
        out->has_group_column |= parts[p].has_group_column;
    }
    out->priv = store;
    return DFD_OK;
}
