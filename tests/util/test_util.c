// util: status and errors, the counting allocator and its fault injection, size math, atomic
// file writes, the thread pool and the progress bar.
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/util/size.h"
#include "dfdetect/util/threads.h"
#include "test.h"

static char *make_temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/dfd_test_util_XXXXXX");
    return mkdtemp(dir);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) {
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void error_messages_carry_the_status_and_errno_text(void)
{
    dfd_error err;
    dfd_error_clear(&err);
    CHECK(strcmp(dfd_error_message(&err), "ok") == 0);
    CHECK_EQ_INT(dfd_error_set(&err, DFD_ERR_FORMAT, "%s: bad %d", "x.mp4", 7), DFD_ERR_FORMAT);
    CHECK(strcmp(err.msg, "x.mp4: bad 7") == 0);
    CHECK_EQ_INT(dfd_error_set_errno(&err, DFD_ERR_IO, ENOENT, "%s", "y"), DFD_ERR_IO);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    CHECK_STR_CONTAINS(err.msg, "y: ");
    CHECK_STR_CONTAINS(err.msg, "No such file");
    CHECK_EQ_INT(dfd_error_set(NULL, DFD_ERR_LIMIT, "ignored"), DFD_ERR_LIMIT);
    CHECK(strcmp(dfd_status_str(DFD_ERR_NOT_FOUND), "not_found") == 0);
    CHECK(strcmp(dfd_status_str((dfd_status)99), "unknown") == 0);
    // Overlong messages are truncated, never overflow.
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    dfd_error_set(&err, DFD_ERR_INVALID, "%s", big);
    CHECK_EQ_INT(strlen(err.msg), sizeof err.msg - 1);
    // Quoted untrusted text cannot break the one-line rule.
    dfd_error_set(&err, DFD_ERR_FORMAT, "op '%s' at node '%s'", "Bias\nAdd", "a\rb\x1b[2J");
    CHECK(strchr(err.msg, '\n') == NULL && strchr(err.msg, '\r') == NULL &&
          strchr(err.msg, 0x1b) == NULL);
    CHECK_STR_CONTAINS(err.msg, "Bias?Add");
}

static void allocator_counts_live_bytes_and_aligns_blocks(void)
{
    size_t base = dfd_alloc_bytes_in_use();
    char *a = dfd_malloc(100);
    void *b = dfd_aligned_alloc(1000);
    REQUIRE(a && b);
    CHECK_EQ_INT((uintptr_t)b % DFD_ALIGN, 0);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base + 1100);
    a = dfd_realloc(a, 300);
    REQUIRE(a);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base + 1300);
    dfd_free(a);
    dfd_aligned_free(b);
    dfd_free(NULL);
    dfd_aligned_free(NULL);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base);
    CHECK(dfd_calloc(SIZE_MAX / 2, 4) == NULL); // overflow, not a tiny block
    CHECK(dfd_malloc(SIZE_MAX) == NULL);
}

// Big blocks are mapped, and freed ones are reused: a reused block comes back aligned, and
// zeroed when zero is asked for, whatever the previous owner wrote.
static void big_blocks_are_reused_and_zeroed_on_request(void)
{
    const size_t n = (size_t)6 << 20, base = dfd_alloc_bytes_in_use();
    unsigned char *a = dfd_aligned_alloc(n);
    REQUIRE(a);
    CHECK_EQ_INT((uintptr_t)a % DFD_ALIGN, 0);
    memset(a, 0xab, n);
    const uintptr_t a_at = (uintptr_t)a;
    dfd_aligned_free(a);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base);
    unsigned char *b = dfd_aligned_calloc(n);
    REQUIRE(b);
    CHECK((uintptr_t)b == a_at); // the same mapping, kept
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        nonzero += b[i] != 0;
    }
    CHECK_EQ_INT(nonzero, 0);
    memset(b, 0xcd, n);
    // Many blocks of another size evict it without leaking or failing.
    void *more[66]; // more than the cache keeps
    for (size_t k = 0; k < 66; k++) {
        more[k] = dfd_aligned_alloc(((size_t)4 << 20) + 4096 * k);
        REQUIRE(more[k]);
    }
    for (size_t k = 0; k < 66; k++) {
        dfd_aligned_free(more[k]);
    }
    dfd_aligned_free(b);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base);
}

static void fault_injection_fails_exactly_the_nth_allocation(void)
{
    dfd_alloc_fail_after(2);
    void *a = dfd_malloc(1), *b = dfd_malloc(1), *c = dfd_malloc(1), *d = dfd_strdup("x");
    dfd_alloc_fail_after(-1);
    CHECK(a && b);
    CHECK(!c && !d);
    void *e = dfd_malloc(1);
    CHECK(e != NULL);
    dfd_free(a);
    dfd_free(b);
    dfd_free(e);
}

static void size_math_detects_overflow(void)
{
    size_t r = 7;
    CHECK(dfd_size_mul(&r, 1u << 20, 1u << 10) && r == (size_t)1 << 30);
    CHECK(!dfd_size_mul(&r, SIZE_MAX / 2, 3));
    CHECK(!dfd_size_add(&r, SIZE_MAX, 1));
    CHECK(dfd_size_mul3(&r, 1920, 1080, 3) && r == 6220800);
    CHECK(!dfd_size_mul3(&r, SIZE_MAX / 4, 2, 3));
}

static void atomic_write_replaces_the_file_only_when_complete(void)
{
    char *dir = make_temp_dir();
    REQUIRE(dir);
    char path[128];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    CHECK_OK(dfd_file_write_atomic(path, "old", 3, NULL));
    dfd_atomic_file *f;
    CHECK_OK(dfd_atomic_file_open(&f, path, NULL));
    fputs("new contents", dfd_atomic_file_stream(f));
    // Not committed: the old file is still what readers see, the temp file sits beside it.
    void *data;
    size_t n;
    CHECK_OK(dfd_file_read_all(&data, &n, path, 100, NULL));
    CHECK(n == 3 && memcmp(data, "old", 3) == 0);
    dfd_free(data);
    CHECK_EQ_INT(count_entries(dir), 2);
    dfd_atomic_file_abort(f);
    CHECK_EQ_INT(count_entries(dir), 1);
    CHECK_OK(dfd_atomic_file_open(&f, path, NULL));
    fputs("new contents", dfd_atomic_file_stream(f));
    CHECK_OK(dfd_atomic_file_commit(f, NULL));
    CHECK_OK(dfd_file_read_all(&data, &n, path, 100, NULL));
    CHECK(n == 12 && memcmp(data, "new contents", 12) == 0);
    dfd_free(data);
    CHECK_EQ_INT(count_entries(dir), 1);
    unlink(path);
    rmdir(dir);
}

static void writing_into_a_missing_directory_fails_without_leftovers(void)
{
    dfd_error err;
    dfd_status st = dfd_file_write_atomic("/nonexistent_dir_dfd/x.bin", "a", 1, &err);
    CHECK_EQ_INT(st, DFD_ERR_IO);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent_dir_dfd/x.bin");
}

static void file_checks_name_the_problem(void)
{
    char *dir = make_temp_dir();
    REQUIRE(dir);
    char empty[128], missing[128];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    FILE *f = fopen(empty, "w");
    REQUIRE(f);
    fclose(f);
    dfd_error err;
    CHECK_EQ_INT(dfd_file_check_regular(missing, NULL, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "no such file");
    CHECK_EQ_INT(dfd_file_check_regular(dir, NULL, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "directory");
    CHECK_EQ_INT(dfd_file_check_regular(empty, NULL, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "empty");
    void *data;
    size_t n;
    CHECK_OK(dfd_file_write_atomic(empty, "0123456789", 10, NULL));
    CHECK_EQ_INT(dfd_file_read_all(&data, &n, empty, 5, &err), DFD_ERR_LIMIT);
    unlink(empty);
    rmdir(dir);
}

static void mkdir_p_creates_nested_directories(void)
{
    char *dir = make_temp_dir();
    REQUIRE(dir);
    char nested[160];
    snprintf(nested, sizeof nested, "%s/a/b/c", dir);
    CHECK_OK(dfd_mkdir_p(nested, NULL));
    CHECK_OK(dfd_mkdir_p(nested, NULL)); // idempotent
    struct stat sb;
    CHECK(stat(nested, &sb) == 0 && S_ISDIR(sb.st_mode));
    char p[160];
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/a/b", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/a", dir);
    rmdir(p);
    rmdir(dir);
}

typedef struct pool_ctx {
    atomic_int hits[1000];
    atomic_int threads_seen[8];
} pool_ctx;

static void count_task(void *ctx, size_t i, int t)
{
    pool_ctx *c = ctx;
    atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_add(&c->threads_seen[t], 1);
}

static void thread_pool_runs_every_task_exactly_once(void)
{
    for (int n_threads = 1; n_threads <= 4; n_threads++) {
        dfd_pool *pool;
        CHECK_OK(dfd_pool_create(&pool, n_threads, NULL));
        CHECK_EQ_INT(dfd_pool_size(pool), n_threads);
        for (int round = 0; round < 20; round++) {
            pool_ctx *c = calloc(1, sizeof *c);
            REQUIRE(c);
            size_t n = (size_t)(round * 50);
            dfd_pool_run(pool, count_task, c, n);
            int wrong = 0, total = 0;
            for (size_t i = 0; i < 1000; i++) {
                wrong += atomic_load(&c->hits[i]) != (i < n ? 1 : 0);
            }
            for (int t = 0; t < 8; t++) {
                total += atomic_load(&c->threads_seen[t]);
                if (t >= n_threads) {
                    CHECK_EQ_INT(atomic_load(&c->threads_seen[t]), 0);
                }
            }
            CHECK_EQ_INT(wrong, 0);
            CHECK_EQ_INT(total, (int)n);
            free(c);
        }
        dfd_pool_destroy(pool);
    }
    dfd_pool_destroy(NULL);
}

static void progress_bar_draws_only_when_enabled_and_erases_itself(void)
{
    char buf[512] = { 0 };
    FILE *f = fmemopen(buf, sizeof buf, "w");
    REQUIRE(f);
    dfd_progress p;
    dfd_progress_begin(&p, f, "test", 4, false);
    dfd_progress_update(&p, 4);
    dfd_progress_end(&p);
    fflush(f);
    CHECK_EQ_INT(strlen(buf), 0);
    dfd_progress_begin(&p, f, "test", 4, true);
    dfd_progress_update(&p, 2);
    dfd_progress_update(&p, 4);
    dfd_progress_end(&p);
    fclose(f);
    CHECK_STR_CONTAINS(buf, "4/4");
    CHECK_STR_CONTAINS(buf, "\r\033[K");
}

typedef struct captured {
    int n;
    char last[256];
} captured;

static void capture_sink(void *ctx, dfd_log_level level, const char *msg)
{
    captured *c = ctx;
    (void)level;
    c->n++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static void log_respects_the_minimum_level(void)
{
    captured c = { 0, "" };
    dfd_log_set(capture_sink, &c, DFD_LOG_WARN);
    dfd_log(DFD_LOG_INFO, "hidden %d", 1);
    dfd_log(DFD_LOG_ERROR, "shown %d", 2);
    CHECK_EQ_INT(c.n, 1);
    CHECK(strcmp(c.last, "shown 2") == 0);
    CHECK(!dfd_log_enabled(DFD_LOG_DEBUG));
    dfd_log_set(NULL, NULL, DFD_LOG_DEBUG);
    dfd_log(DFD_LOG_ERROR, "nowhere");
    CHECK_EQ_INT(c.n, 1);
}

static void touch(const char *dir, const char *name)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(name, f);
        fclose(f);
    }
}

static void directories_list_publish_and_remove(void)
{
    char *root = make_temp_dir();
    REQUIRE(root);
    char a[256], b[256], tmp[512], sub[512];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/a/sub", root);
    CHECK_OK(dfd_mkdir_p(b, NULL));
    touch(a, "z.mp4");
    touch(a, "b.mp4");
    touch(a, ".hidden");
    char **names;
    size_t n;
    CHECK_OK(dfd_dir_list_files(&names, &n, a, NULL));
    REQUIRE(n == 2); // files only, sorted, no hidden ones, no directories
    CHECK(strcmp(names[0], "b.mp4") == 0 && strcmp(names[1], "z.mp4") == 0);
    dfd_dir_list_free(names, n);
    dfd_error err;
    CHECK_EQ_INT(dfd_dir_list_files(&names, &n, "/nonexistent-dir", &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent-dir");

    // Publish a new folder over a missing one, then over an existing one.
    char dest[256];
    snprintf(dest, sizeof dest, "%s/out", root);
    CHECK_OK(dfd_temp_dir_create(tmp, sizeof tmp, dest, NULL));
    CHECK(strstr(tmp, "/out.tmp.") != NULL);
    touch(tmp, "first");
    CHECK_OK(dfd_dir_publish(tmp, dest, NULL));
    CHECK(access(tmp, F_OK) != 0);
    CHECK_EQ_INT(count_entries(dest), 1);
    CHECK_OK(dfd_temp_dir_create(tmp, sizeof tmp, dest, NULL));
    touch(tmp, "second");
    touch(tmp, "third");
    snprintf(sub, sizeof sub, "%s/first", dest);
    CHECK(access(sub, F_OK) == 0);
    CHECK_OK(dfd_dir_publish(tmp, dest, NULL));
    CHECK(access(sub, F_OK) != 0); // the old content is gone, the new one complete
    CHECK_EQ_INT(count_entries(dest), 2);
    CHECK_EQ_INT(count_entries(root), 2); // a and out: no temporaries left
    // A file in the way is not replaced.
    CHECK_OK(dfd_temp_dir_create(tmp, sizeof tmp, sub, NULL));
    touch(dest, "first");
    CHECK_EQ_INT(dfd_dir_publish(tmp, sub, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "not a directory");
    CHECK_OK(dfd_remove_tree(tmp, NULL));

    CHECK_OK(dfd_remove_tree(root, NULL));
    CHECK(access(root, F_OK) != 0);
    CHECK_OK(dfd_remove_tree(root, NULL)); // missing is fine
}

DFD_TEST_MAIN({ "error_messages_carry_the_status_and_errno_text",
                error_messages_carry_the_status_and_errno_text },
              { "allocator_counts_live_bytes_and_aligns_blocks",
                allocator_counts_live_bytes_and_aligns_blocks },
              { "big_blocks_are_reused_and_zeroed_on_request",
                big_blocks_are_reused_and_zeroed_on_request },
              { "fault_injection_fails_exactly_the_nth_allocation",
                fault_injection_fails_exactly_the_nth_allocation },
              { "size_math_detects_overflow", size_math_detects_overflow },
              { "atomic_write_replaces_the_file_only_when_complete",
                atomic_write_replaces_the_file_only_when_complete },
              { "writing_into_a_missing_directory_fails_without_leftovers",
                writing_into_a_missing_directory_fails_without_leftovers },
              { "file_checks_name_the_problem", file_checks_name_the_problem },
              { "mkdir_p_creates_nested_directories", mkdir_p_creates_nested_directories },
              { "thread_pool_runs_every_task_exactly_once",
                thread_pool_runs_every_task_exactly_once },
              { "progress_bar_draws_only_when_enabled_and_erases_itself",
                progress_bar_draws_only_when_enabled_and_erases_itself },
              { "log_respects_the_minimum_level", log_respects_the_minimum_level },
              { "directories_list_publish_and_remove", directories_list_publish_and_remove })
