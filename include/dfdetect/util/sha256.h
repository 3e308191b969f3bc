// SHA-256 (FIPS 180-4): content hashes that name cached work (the face cache keys an entry by
// the hash of the file it was made from) and check fetched files. Incremental, so a file is
// hashed streamed in blocks, never loaded whole.
#ifndef DFD_UTIL_SHA256_H
#define DFD_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/util/status.h"

#define DFD_SHA256_BYTES 32
// Hex digest length without the terminating NUL; buffers need DFD_SHA256_HEX_LEN + 1.
#define DFD_SHA256_HEX_LEN 64

// Running state. Plain data: copy it to fork a hash (hash a common prefix once, then finish
// copies with different suffixes). One thread at a time per context.
typedef struct dfd_sha256 {
    uint32_t h[8];     // chaining value
    uint64_t n_bytes;  // message length so far
    uint8_t block[64]; // partial block
    size_t n_block;    // bytes in `block` (0..63)
} dfd_sha256;

// Start a new hash.
void dfd_sha256_init(dfd_sha256 *s);

// Append n bytes (data may be NULL when n == 0).
void dfd_sha256_update(dfd_sha256 *s, const void *data, size_t n);

// Finish: write the 32-byte digest. The context must be initialised again before reuse.
void dfd_sha256_final(uint8_t digest[DFD_SHA256_BYTES], dfd_sha256 *s);

// One-shot digest of a buffer.
void dfd_sha256_buffer(uint8_t digest[DFD_SHA256_BYTES], const void *data, size_t n);

// Lowercase hex of a digest into hex (DFD_SHA256_HEX_LEN + 1 bytes, NUL-terminated).
void dfd_sha256_hex(char hex[DFD_SHA256_HEX_LEN + 1], const uint8_t digest[DFD_SHA256_BYTES]);

// Digest of the file at `path`, read in 64 KiB blocks (memory use does not grow with the file).
// *n_bytes_out (may be NULL) gets the number of bytes hashed.
// Errors, naming the path: DFD_ERR_NOT_FOUND (no such file), DFD_ERR_INVALID (a directory or not
// a regular file), DFD_ERR_IO (open or read failed). Thread-safe.
dfd_status dfd_sha256_file(uint8_t digest[DFD_SHA256_BYTES], uint64_t *n_bytes_out,
                           const char *path, dfd_error *err);

#endif
