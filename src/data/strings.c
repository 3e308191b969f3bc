// The string map and string pool of data_internal.h.
#include <string.h>

#include "data_internal.h"
#include "dfdetect/util/alloc.h"

// ---- string -> index map ----

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a, then mixed: the low bits pick the slot
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    }
    return data_mix64(h);
}

static size_t find_slot(const char *const *keys, size_t cap, const char *key)
{
    size_t i = (size_t)hash_str(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) {
        i = (i + 1) & (cap - 1);
    }
    return i;
}

static bool grow(data_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **keys = dfd_calloc(cap, sizeof *keys);
    size_t *vals = dfd_malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        dfd_free(keys);
        dfd_free(vals);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            size_t j = find_slot(keys, cap, m->keys[i]);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
    }
    dfd_free(m->keys);
    dfd_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return true;
}

bool data_strmap_put(data_strmap *m, const char *key, size_t val, size_t *out_val, bool *found)
{
    if ((m->n + 1) * 2 > m->cap && !grow(m)) {
        return false;
    }
    size_t i = find_slot(m->keys, m->cap, key);
    *found = m->keys[i] != NULL;
    if (!*found) {
        m->keys[i] = key;
        m->vals[i] = val;
        m->n++;
    }
    if (out_val) {
        *out_val = m->vals[i];
    }
    return true;
}

bool data_strmap_get(const data_strmap *m, const char *key, size_t *val)
{
    if (m->cap == 0) {
        return false;
    }
    size_t i = find_slot(m->keys, m->cap, key);
    if (!m->keys[i]) {
        return false;
    }
    *val = m->vals[i];
    return true;
}

void data_strmap_free(data_strmap *m)
{
    dfd_free(m->keys);
    dfd_free(m->vals);
    memset(m, 0, sizeof *m);
}

// ---- string pool ----

struct data_pool_chunk {
    data_pool_chunk *next;
    char data[]; // flexible array member: the strings
};

char *data_strpool_alloc(data_strpool *p, size_t n)
{
    if (!p->head || p->cap - p->used < n + 1) {
        size_t cap = n + 1 > 65536 ? n + 1 : 65536;
        data_pool_chunk *c = dfd_malloc(sizeof *c + cap);
        if (!c) {
            return NULL;
        }
        c->next = p->head;
        p->head = c;
        p->used = 0;
        p->cap = cap;
    }
    char *out = p->head->data + p->used;
    out[n] = '\0';
    p->used += n + 1;
    return out;
}

char *data_strpool_dupn(data_strpool *p, const char *s, size_t n)
{
    char *out = data_strpool_alloc(p, n);
    if (out) {
        memcpy(out, s, n);
    }
    return out;
}

char *data_strpool_dup(data_strpool *p, const char *s)
{
    return data_strpool_dupn(p, s, strlen(s));
}

void data_strpool_free(data_strpool *p)
{
    for (data_pool_chunk *c = p->head; c;) {
        data_pool_chunk *next = c->next;
        dfd_free(c);
        c = next;
    }
    memset(p, 0, sizeof *p);
}
