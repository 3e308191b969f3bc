// Safetensors files: our checkpoints and trained models, and what PyTorch users exchange.
// Layout (huggingface safetensors): an 8-byte little-endian unsigned header length N, N bytes of
// UTF-8 JSON, then the data area. The JSON is an object: each key but "__metadata__" names a
// tensor, {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, with byte offsets
// relative to the start of the data area; "__metadata__" is an optional string -> string map.
// Data is little-endian, row-major ("C" order). Writers pad the JSON with spaces so that N is a
// multiple of 8, and store tensors widest dtype first, so every tensor is aligned to its
// element size; the tensors tile the data area exactly (no gaps, no overlaps).
#ifndef DFD_MODEL_SAFETENSORS_H
#define DFD_MODEL_SAFETENSORS_H

#include <stddef.h>

#include "dfdetect/nn/param.h"
#include "dfdetect/util/status.h"

// Limits of the reader: larger inputs fail with DFD_ERR_LIMIT.
#define DFD_ST_MAX_RANK         8                   // dimensions of one tensor
#define DFD_ST_MAX_HEADER       ((size_t)100 << 20) // bytes of JSON (as the reference reader)
#define DFD_ST_MAX_TENSORS      (1 << 20)           // tensors in one file
#define DFD_ST_MAX_FILE_BYTES   ((size_t)16 << 30)  // whole file, read into memory
#define DFD_ST_MAX_TENSOR_NUMEL 2147483647L         // elements of one tensor (2^31 - 1)

// Element types, in the reference's order of increasing alignment (writers store the widest
// first). Names in files are the enum names without the prefix ("F32", "BF16", ...).
typedef enum dfd_st_dtype {
    DFD_ST_BOOL,
    DFD_ST_U8,
    DFD_ST_I8,
    DFD_ST_F8_E5M2,
    DFD_ST_F8_E4M3,
    DFD_ST_I16,
    DFD_ST_U16,
    DFD_ST_F16,
    DFD_ST_BF16,
    DFD_ST_I32,
    DFD_ST_U32,
    DFD_ST_F32,
    DFD_ST_F64,
    DFD_ST_I64,
    DFD_ST_U64,
    DFD_ST_DTYPE_COUNT
} dfd_st_dtype;

// Bytes per element (1, 2, 4 or 8) and the file's name of a dtype ("F32"); 0 and "?" when out
// of range. The strings are static.
size_t dfd_st_dtype_size(dfd_st_dtype dtype);
const char *dfd_st_dtype_name(dfd_st_dtype dtype);

// One tensor: a view, never owning. Rank 0 is a scalar (one element); a dimension may be 0.
typedef struct dfd_st_tensor {
    const char *name; // UTF-8, unique within a file, not "__metadata__"
    dfd_st_dtype dtype;
    int rank;                   // 0..DFD_ST_MAX_RANK
    int shape[DFD_ST_MAX_RANK]; // shape[0..rank), each >= 0
    const void *data;           // numel * dtype size bytes, little-endian; when read from a
                                // file only aligned to its element size if the writer aligned
                                // it (ours do): copy out with memcpy
} dfd_st_tensor;

// Elements of t (product of its shape; 1 for a scalar). Saturates at SIZE_MAX on overflow.
size_t dfd_st_tensor_numel(const dfd_st_tensor *t);

// Views of n parameters' values as F32 tensors named after them, into out[0..n). Errors:
// DFD_ERR_INVALID (a NULL parameter, rank outside 1..4), the message naming `path`.
dfd_status dfd_st_tensors_of_params(dfd_st_tensor *out, dfd_param *const *params, size_t n,
                                    const char *path, dfd_error *err);

// One "__metadata__" entry: both strings UTF-8, owned by the caller.
typedef struct dfd_st_meta {
    const char *key;
    const char *value;
} dfd_st_meta;

// ---- writing ----

// Write `n` tensors and `n_meta` metadata entries (meta may be NULL when n_meta is 0) to `path`,
// atomically (a reader sees the old file or the whole new one). The header is compact JSON:
// "__metadata__" first (keys sorted), then the tensors sorted by dtype (widest first) then name,
// each {"dtype","shape","data_offsets"} in that order; then spaces up to a multiple of 8 bytes.
// Errors: DFD_ERR_INVALID (NULL or empty name, duplicate name, "__metadata__" as a tensor name,
// rank or dtype out of range, negative dimension, NULL data with bytes to write, NULL
// metadata string, duplicate metadata key), DFD_ERR_LIMIT (a tensor above the reader's limits),
// DFD_ERR_IO, DFD_ERR_NOMEM. Messages name the file and the tensor.
dfd_status dfd_safetensors_write(const char *path, const dfd_st_tensor *tensors, size_t n,
                                 const dfd_st_meta *meta, size_t n_meta, dfd_error *err);

// Save the values of n parameters (F32, named after them) with the given metadata, atomically.
// Errors as dfd_safetensors_write, and DFD_ERR_INVALID for a parameter of rank outside 1..4.
dfd_status dfd_safetensors_save_params(const char *path, dfd_param *const *params, size_t n,
                                       const dfd_st_meta *meta, size_t n_meta, dfd_error *err);

// ---- reading ----

typedef struct dfd_safetensors dfd_safetensors;

// Read and validate a whole file. Every check runs before anything is trusted: the header
// length against the file size, the JSON (UTF-8, starts with '{', nothing but whitespace after
// it), each entry's dtype, shape and offsets against its byte size, the offsets within the data
// area, no overlaps and no bytes outside every tensor, no duplicate tensor names or metadata
// keys, the limits above.
// On success *out is a handle the caller frees with dfd_safetensors_close.
// Errors, one line naming the file and the problem (and the tensor):
//   DFD_ERR_NOT_FOUND (no such file), DFD_ERR_FORMAT (truncated, corrupt, inconsistent),
//   DFD_ERR_UNSUPPORTED (a dtype this reader does not know), DFD_ERR_LIMIT, DFD_ERR_IO,
//   DFD_ERR_NOMEM, DFD_ERR_INVALID (NULL arguments, a directory).
dfd_status dfd_safetensors_open(dfd_safetensors **out, const char *path, dfd_error *err);

// As dfd_safetensors_open on a copy of n_bytes of memory; `name` stands for the file in messages.
dfd_status dfd_safetensors_open_buffer(dfd_safetensors **out, const void *data, size_t n_bytes,
                                       const char *name, dfd_error *err);

// Free the handle and every view it gave out. Accepts NULL.
void dfd_safetensors_close(dfd_safetensors *st);

// Number of tensors, and the i-th in name order (strcmp); NULL when i is out of range. Views are
// valid until dfd_safetensors_close.
size_t dfd_safetensors_count(const dfd_safetensors *st);
const dfd_st_tensor *dfd_safetensors_tensor(const dfd_safetensors *st, size_t i);

// The tensor called `name` (binary search), or NULL.
const dfd_st_tensor *dfd_safetensors_find(const dfd_safetensors *st, const char *name);

// The metadata value for `key`, or NULL; the metadata entries in file order (i-th key and
// value; false when i is out of range). Strings valid until dfd_safetensors_close.
const char *dfd_safetensors_meta(const dfd_safetensors *st, const char *key);
size_t dfd_safetensors_meta_count(const dfd_safetensors *st);
bool dfd_safetensors_meta_at(const dfd_safetensors *st, size_t i, const char **key,
                             const char **value);

// The path (or buffer name) the handle was opened with, for messages.
const char *dfd_safetensors_path(const dfd_safetensors *st);

// Copy the tensor called after each of the n parameters into its value. All are checked before
// any is written, so a failed load leaves every parameter untouched. Tensors that no parameter
// names are ignored. Errors, one line naming the file and the tensor: DFD_ERR_NOT_FOUND (no
// tensor of that name), DFD_ERR_FORMAT (dtype other than F32, or a different shape: trailing
// and leading dimensions of size 1 are not ignored), DFD_ERR_INVALID (NULL arguments).
dfd_status dfd_safetensors_load_params(const dfd_safetensors *st, dfd_param *const *params,
                                       size_t n, dfd_error *err);

// Find `name` and check that it has the given dtype and shape, as load_params does; *out is the
// tensor, or NULL on failure. Errors naming the file and the tensor: DFD_ERR_NOT_FOUND,
// DFD_ERR_FORMAT (another dtype or shape).
dfd_status dfd_safetensors_expect(const dfd_st_tensor **out, const dfd_safetensors *st,
                                  const char *name, dfd_st_dtype dtype, int rank, const int *shape,
                                  dfd_error *err);

#endif
