// SHA-256 as FIPS 180-4 specifies it (section 6.2): 64-byte blocks, a 64-round compression on
// eight 32-bit words, the message padded with 0x80, zeros and its bit length (big-endian). Plain
// portable C: about 200-300 MB/s on one core, far above what hashing a dataset's files needs.
#include "dfdetect/util/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"

// First 32 bits of the fractional parts of the cube roots of the first 64 primes (§4.2.2).
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// Compress n_blocks consecutive 64-byte blocks into the chaining value h (§6.2.2).
static void compress(uint32_t h[8], const uint8_t *p, size_t n_blocks)
{
    for (; n_blocks > 0; n_blocks--, p += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++) {
            w[t] = load_be32(p + 4 * t);
        }
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 =
                k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            k = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += k;
    }
}

void dfd_sha256_init(dfd_sha256 *s)
{
    // First 32 bits of the fractional parts of the square roots of the first 8 primes (§5.3.3).
    static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, h0, sizeof h0);
    s->n_bytes = 0;
    s->n_block = 0;
}

void dfd_sha256_update(dfd_sha256 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->n_bytes += n;
    if (s->n_block > 0) {
        size_t take = 64 - s->n_block < n ? 64 - s->n_block : n;
        memcpy(s->block + s->n_block, p, take);
        s->n_block += take;
        p += take;
        n -= take;
        if (s->n_block < 64) {
            return;
        }
        compress(s->h, s->block, 1);
        s->n_block = 0;
    }
    if (n >= 64) {
        compress(s->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    if (n > 0) {
        memcpy(s->block, p, n);
        s->n_block = n;
    }
}

void dfd_sha256_final(uint8_t digest[DFD_SHA256_BYTES], dfd_sha256 *s)
{
    uint64_t bits = s->n_bytes * 8;
    // Padding (§5.1.1): 0x80, zeros up to 56 mod 64, then the length in bits, big-endian.
    uint8_t pad[72] = { 0x80 };
    size_t n_pad = (s->n_block < 56 ? 56 : 120) - s->n_block;
    for (int i = 0; i < 8; i++) {
        pad[n_pad + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    dfd_sha256_update(s, pad, n_pad + 8);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(s->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void dfd_sha256_buffer(uint8_t digest[DFD_SHA256_BYTES], const void *data, size_t n)
{
    dfd_sha256 s;
    dfd_sha256_init(&s);
    dfd_sha256_update(&s, data, n);
    dfd_sha256_final(digest, &s);
}

void dfd_sha256_hex(char hex[DFD_SHA256_HEX_LEN + 1], const uint8_t digest[DFD_SHA256_BYTES])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < DFD_SHA256_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[DFD_SHA256_HEX_LEN] = '\0';
}

dfd_status dfd_sha256_file(uint8_t digest[DFD_SHA256_BYTES], uint64_t *n_bytes_out,
                           const char *path, dfd_error *err)
{
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "empty file name");
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            return dfd_error_set(err, DFD_ERR_NOT_FOUND, "%s: no such file", path);
        }
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot open", path);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: %s", path,
                             S_ISDIR(sb.st_mode) ? "is a directory, not a file"
                                                 : "is not a regular file");
    }
    enum {
        BUF = 1 << 16
    };
    uint8_t *buf = dfd_malloc(BUF);
    if (!buf) {
        close(fd);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    dfd_sha256 s;
    dfd_sha256_init(&s);
    dfd_status st = DFD_OK;
    for (;;) {
        ssize_t got = read(fd, buf, BUF);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            st = dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: read failed", path);
            break;
        }
        if (got == 0) {
            break;
        }
        dfd_sha256_update(&s, buf, (size_t)got);
    }
    dfd_free(buf);
    close(fd);
    if (st) {
        return st;
    }
    if (n_bytes_out) {
        *n_bytes_out = s.n_bytes;
    }
    dfd_sha256_final(digest, &s);
    return DFD_OK;
}
