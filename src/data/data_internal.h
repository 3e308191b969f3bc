// Shared between the files of src/data only: a seeded random stream (splits, augmentation), a
// string -> index hash map (groups, duplicate files, the cache's hash memo) and a string pool
// whose strings never move (the dataset's names).
#ifndef DFD_DATA_DATA_INTERNAL_H
#define DFD_DATA_DATA_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/data/facecache.h"
#include "dfdetect/util/status.h"

// ---- random numbers ----

// splitmix64 (Steele, Lea, Flood 2014): a 64-bit counter passed through a strong mixer. Every
// seed, 0 included, gives a full-period stream; streams of nearby seeds are unrelated.
typedef struct data_rng {
    uint64_t s;
} data_rng;

static inline uint64_t data_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline data_rng data_rng_seed(uint64_t seed)
{
    data_rng r = { data_mix64(seed ^ 0x6a09e667f3bcc908ull) };
    return r;
}

static inline uint64_t data_rng_u64(data_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return data_mix64(r->s);
}

// Uniform in [0, 1) with 53 random bits.
static inline double data_rng_unit(data_rng *r)
{
    return (double)(data_rng_u64(r) >> 11) * 0x1.0p-53;
}

// Uniform in [lo, hi).
static inline double data_rng_range(data_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * data_rng_unit(r);
}

// Uniform integer in [0, n) (n >= 1), by rejection so that every value is equally likely.
static inline uint64_t data_rng_below(data_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = data_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

// Standard normal (Box-Muller; one of the pair is thrown away, which keeps the stream simple).
static inline double data_rng_normal(data_rng *r)
{
    double u = 1.0 - data_rng_unit(r); // (0, 1]: log is finite
    double v = data_rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

// ---- string -> index map ----

// Open addressing with linear probing; keys are borrowed (they must outlive the map).
typedef struct data_strmap {
    const char **keys; // NULL = empty slot
    size_t *vals;
    size_t cap; // power of two
    size_t n;
} data_strmap;

// *found = whether `key` was present; if not, it is inserted with value `val`. *out_val gets the
// stored value either way. Returns false when out of memory (the map is unchanged).
bool data_strmap_put(data_strmap *m, const char *key, size_t val, size_t *out_val, bool *found);

// The value of `key`, or false when absent.
bool data_strmap_get(const data_strmap *m, const char *key, size_t *val);

void data_strmap_free(data_strmap *m);

// ---- string pool ----

// Strings copied into chunks that are never reallocated, so pointers stay valid until the pool
// is freed. Chunks form a singly linked list.
typedef struct data_pool_chunk data_pool_chunk;
typedef struct data_strpool {
    data_pool_chunk *head;
    size_t used, cap; // of the head chunk
} data_strpool;

// n + 1 bytes owned by the pool, the last one set to NUL (the caller fills the first n); NULL
// when out of memory.
char *data_strpool_alloc(data_strpool *p, size_t n);

// A copy of the n bytes at s, NUL-terminated, owned by the pool; NULL when out of memory.
char *data_strpool_dupn(data_strpool *p, const char *s, size_t n);
char *data_strpool_dup(data_strpool *p, const char *s);
void data_strpool_free(data_strpool *p);

// What a dfd_dataset's priv points to: the pool its strings live in.
typedef struct dataset_store {
    data_strpool pool;
} dataset_store;

// ---- CSV records (csv.c) ----

// A reader over text in memory: set p, end and line = 1, zero the rest; free with data_csv_free.
typedef struct data_csv {
    const char *p, *end;
    size_t line; // line of the next character
    char *buf;   // field bytes of the current record, each NUL-terminated
    size_t n_buf, cap_buf;
    size_t *offs; // field starts in buf
    size_t n_fields, cap_fields;
} data_csv;

// Read one record. Returns 1 (a record of r->n_fields fields; *rec_line is its first line), 0
// (end of input), -1 (unterminated quote; *rec_line is where the record started), -2 (out of
// memory). Quotes open a quoted section only at the start of a field; text after a closing
// quote is ignored, as most readers do.
int data_csv_next(data_csv *r, size_t *rec_line);

// Field i of the current record (NUL-terminated; valid until the next data_csv_next).
const char *data_csv_field(const data_csv *r, size_t i);

// Whether the current record is a blank line.
bool data_csv_blank(const data_csv *r);

void data_csv_free(data_csv *r);

// ---- face cache storage (facecache_io.c) ----

// Bytes of the faces.bin header (see facecache.h).
#define FC_HEADER_BYTES 32

// Allocate the identities (counts[i] faces each) and the pixel/landmark block of an entry with
// n_faces = sum of counts faces of side x side crops and n_lm landmarks each, write the faces.bin
// header into the block and point every face's crop and landmarks into it. e->ids, n_ids,
// crop_size, n_landmarks and block are set; everything else in *e is left alone.
// Errors: DFD_ERR_NOMEM, DFD_ERR_LIMIT (sizes overflow).
dfd_status fc_entry_alloc(dfd_face_entry *e, const size_t *counts, size_t n_ids, int side,
                          int n_lm);

// Size in bytes of the faces.bin of an entry.
size_t fc_block_bytes(const dfd_face_entry *e);

// What meta.json records besides the entry.
typedef struct fc_source {
    const char *path;     // the file as the caller named it
    uint64_t bytes;       // its size
    const char *settings; // the settings text of the key
    double seconds[4];    // decode, detect, landmarks, crop
} fc_source;

// Write the entry into the folder `entry_dir` (built aside and published whole; the parent is
// created). Errors: DFD_ERR_IO (naming the file), DFD_ERR_NOMEM.
dfd_status fc_write(const char *entry_dir, const dfd_face_entry *e, const fc_source *src,
                    dfd_error *err);

// Read the entry in `entry_dir`. Errors: DFD_ERR_NOT_FOUND (no entry), DFD_ERR_FORMAT (a damaged
// entry: the caller rebuilds it), DFD_ERR_IO, DFD_ERR_NOMEM. *bytes_read gets the size of
// faces.bin.
dfd_status fc_read(dfd_face_entry *e, const char *entry_dir, uint64_t *bytes_read, dfd_error *err);

#endif
