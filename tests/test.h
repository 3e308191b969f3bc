// The test runner: one executable per module area, registered with CTest. Each test is a
// `static void test_name(void)` using CHECK* macros; DFD_TEST_MAIN runs them in order, prints
// "ok name" or "FAIL name (file:line: expr)" and ends with "N passed, N failed".
// Tests that need something absent (the fetched models, ../shared/data) call TEST_SKIP(reason).
#ifndef DFD_TESTS_TEST_H
#define DFD_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/status.h"

typedef struct dfd_test_case {
    const char *name;
    void (*fn)(void);
} dfd_test_case;

// State of the running test (file-local to each test program).
static int dfd_test_failed_;
static int dfd_test_skipped_;

#define DFD_TEST_FAIL_(...)                                 \
    do {                                                    \
        fprintf(stderr, "    %s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                       \
        fprintf(stderr, "\n");                              \
        dfd_test_failed_ = 1;                               \
    } while (0)

// Failed checks do not stop the test (so one run shows every broken check), except CHECK_OK,
// REQUIRE and TEST_SKIP, which return from the test function.
#define CHECK(c)                             \
    do {                                     \
        if (!(c)) {                          \
            DFD_TEST_FAIL_("CHECK(%s)", #c); \
        }                                    \
    } while (0)

#define REQUIRE(c)                             \
    do {                                       \
        if (!(c)) {                            \
            DFD_TEST_FAIL_("REQUIRE(%s)", #c); \
            return;                            \
        }                                      \
    } while (0)

#define CHECK_OK(st)                                                       \
    do {                                                                   \
        dfd_status st_ = (st);                                             \
        if (st_ != DFD_OK) {                                               \
            DFD_TEST_FAIL_("CHECK_OK(%s) = %s", #st, dfd_status_str(st_)); \
            return;                                                        \
        }                                                                  \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                        \
    do {                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                       \
        if (a_ != b_) {                                                           \
            DFD_TEST_FAIL_("CHECK_EQ_INT(%s, %s): %lld != %lld", #a, #b, a_, b_); \
        }                                                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                             \
    do {                                                                                  \
        double a_ = (double)(a), b_ = (double)(b);                                        \
        if (!(fabs(a_ - b_) <= (double)(tol))) {                                          \
            DFD_TEST_FAIL_("CHECK_NEAR(%s, %s, %s): %.9g vs %.9g", #a, #b, #tol, a_, b_); \
        }                                                                                 \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                            \
    do {                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                    \
        if (!h_ || !strstr(h_, n_)) {                                              \
            DFD_TEST_FAIL_("CHECK_STR_CONTAINS(%s, \"%s\"): got \"%s\"", #hay, n_, \
                           h_ ? h_ : "(null)");                                    \
        }                                                                          \
    } while (0)

#define TEST_SKIP(...)                    \
    do {                                  \
        fprintf(stderr, "    skipped: "); \
        fprintf(stderr, __VA_ARGS__);     \
        fprintf(stderr, "\n");            \
        dfd_test_skipped_ = 1;            \
        return;                           \
    } while (0)

static inline int dfd_test_run_(const dfd_test_case *cases, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        // An optional argument runs only the tests whose name contains it.
        if (argc > 1 && !strstr(cases[i].name, argv[1])) {
            continue;
        }
        dfd_test_failed_ = 0;
        dfd_test_skipped_ = 0;
        cases[i].fn();
        if (dfd_test_failed_) {
            printf("FAIL %s\n", cases[i].name);
            failed++;
        } else if (dfd_test_skipped_) {
            printf("skip %s\n", cases[i].name);
            skipped++;
        } else {
            printf("ok   %s\n", cases[i].name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#define DFD_TEST_MAIN(...)                                                          \
    int main(int argc, char **argv)                                                 \
    {                                                                               \
        static const dfd_test_case cases_[] = { __VA_ARGS__ };                      \
        return dfd_test_run_(cases_, sizeof cases_ / sizeof cases_[0], argc, argv); \
    }

#endif
