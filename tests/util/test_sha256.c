// SHA-256 against the FIPS 180-4 example vectors (NIST "SHA256.pdf" and the CAVP short/long
// messages), incremental updates split at every offset, and streamed file hashing.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/sha256.h"
#include "test.h"

static void hex_of(char hex[65], const void *data, size_t n)
{
    uint8_t d[32];
    dfd_sha256_buffer(d, data, n);
    dfd_sha256_hex(hex, d);
}

static void test_fips_vectors(void)
{
    char hex[65];
    hex_of(hex, "abc", 3);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    hex_of(hex, "", 0);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    // 448 bits: the padding needs a second block.
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(hex, m2, strlen(m2));
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    // 896 bits (the SHA-512 example message, hashed with SHA-256).
    const char *m3 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                     "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(hex, m3, strlen(m3));
    CHECK(strcmp(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1") == 0);
    // CAVP short message: one byte 0xbd.
    const uint8_t bd = 0xbd;
    hex_of(hex, &bd, 1);
    CHECK(strcmp(hex, "68325720aabd7c82f30f554b313d0570c95accbb7dc4b5aae11204c08ffe732b") == 0);
}

static void test_million_a_in_odd_pieces(void)
{
    // One million 'a' (FIPS 180-2 appendix B.3), fed in pieces of 1..997 bytes.
    char piece[997];
    memset(piece, 'a', sizeof piece);
    dfd_sha256 s;
    dfd_sha256_init(&s);
    size_t left = 1000000, step = 1;
    while (left > 0) {
        size_t n = step < left ? step : left;
        dfd_sha256_update(&s, piece, n);
        left -= n;
        step = step % 997 + 1;
    }
    uint8_t d[32];
    char hex[65];
    dfd_sha256_final(d, &s);
    dfd_sha256_hex(hex, d);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void test_split_updates_match_one_shot(void)
{
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)(i * 31 + 7);
    }
    // Every length around the block and padding boundaries, split at every offset.
    for (size_t n = 0; n <= 200; n++) {
        uint8_t ref[32];
        dfd_sha256_buffer(ref, msg, n);
        for (size_t cut = 0; cut <= n; cut += 7) {
            dfd_sha256 s;
            dfd_sha256_init(&s);
            dfd_sha256_update(&s, msg, cut);
            dfd_sha256_update(&s, msg + cut, n - cut);
            uint8_t d[32];
            dfd_sha256_final(d, &s);
            if (memcmp(d, ref, 32) != 0) {
                fprintf(stderr, "    length %zu cut %zu differs\n", n, cut);
                CHECK(0);
                return;
            }
        }
    }
    // A copied context finishes the same prefix independently.
    dfd_sha256 a, b;
    dfd_sha256_init(&a);
    dfd_sha256_update(&a, "ab", 2);
    b = a;
    dfd_sha256_update(&b, "c", 1);
    uint8_t d[32];
    char hex[65];
    dfd_sha256_final(d, &b);
    dfd_sha256_hex(hex, d);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

static void test_file_matches_buffer(void)
{
    char path[] = "/tmp/dfd_sha256_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    // 200000 bytes: several 64 KiB reads, the last one partial.
    size_t n = 200000;
    uint8_t *buf = dfd_malloc(n);
    REQUIRE(buf);
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)((i * 2654435761u) >> 13);
    }
    dfd_error err;
    CHECK_OK(dfd_file_write_atomic(path, buf, n, &err));
    uint8_t ref[32], got[32];
    uint64_t n_hashed = 0;
    dfd_sha256_buffer(ref, buf, n);
    CHECK_OK(dfd_sha256_file(got, &n_hashed, path, &err));
    CHECK(memcmp(ref, got, 32) == 0);
    CHECK_EQ_INT(n_hashed, n);
    // An empty file hashes to the empty digest.
    CHECK_OK(dfd_file_write_atomic(path, buf, 0, &err));
    CHECK_OK(dfd_sha256_file(got, NULL, path, &err));
    char hex[65];
    dfd_sha256_hex(hex, got);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    unlink(path);
    dfd_free(buf);
    // Errors name the path.
    CHECK_EQ_INT(dfd_sha256_file(got, NULL, "/nonexistent/x.mp4", &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent/x.mp4");
    CHECK_EQ_INT(dfd_sha256_file(got, NULL, "/tmp", &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "directory");
}

DFD_TEST_MAIN({ "fips_vectors", test_fips_vectors },
              { "million_a_in_odd_pieces", test_million_a_in_odd_pieces },
              { "split_updates_match_one_shot", test_split_updates_match_one_shot },
              { "file_matches_buffer", test_file_matches_buffer })
