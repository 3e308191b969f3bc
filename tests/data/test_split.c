// Grouped, stratified, seeded splits: no group on two sides, label ratios close to the whole,
// part sizes close to their weights, the same seed giving the same split and another seed another
// one; a hand-computed greedy placement; the dataset wrappers on a generated CSV.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_test_util.h"
#include "dfdetect/data/dataset.h"
#include "dfdetect/data/split.h"
#include "dfdetect/util/alloc.h"
#include "test.h"

// A synthetic population: groups of 1..6 items (a real source and its fakes, or a few reals of
// one person), about 60% fake overall. Group ids are spread out (not 0..n-1).
typedef struct population {
    dfd_label labels[2000];
    size_t groups[2000];
    size_t n, n_groups;
} population;

static void make_population(population *p, size_t n_groups)
{
    uint64_t s = 12345;
    p->n = 0;
    p->n_groups = n_groups;
    for (size_t g = 0; g < n_groups; g++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t size = 1 + (size_t)(s >> 33) % 6;
        for (size_t k = 0; k < size && p->n < 2000; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            // The first item of a group is real, the others fake with probability 0.8.
            bool fake = k > 0 && (s >> 33) % 10 < 8;
            p->labels[p->n] = fake ? DFD_LABEL_FAKE : DFD_LABEL_REAL;
            p->groups[p->n] = g * 7919 + 3;
            p->n++;
        }
    }
}

// Every group lies in one part; returns false otherwise.
static bool groups_whole(const int *part, const size_t *groups, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (groups[i] == groups[j] && part[i] != part[j]) {
                return false;
            }
        }
    }
    return true;
}

static void test_kfold_invariants(void)
{
    static population p;
    make_population(&p, 400);
    const int k = 5;
    double w[5] = { 1, 1, 1, 1, 1 };
    int *fold = dfd_malloc(p.n * sizeof *fold), *again = dfd_malloc(p.n * sizeof *again);
    int *other = dfd_malloc(p.n * sizeof *other);
    REQUIRE(fold && again && other);
    dfd_error err;
    CHECK_OK(dfd_split_assign(fold, p.labels, p.groups, p.n, w, k, 42, &err));
    CHECK(groups_whole(fold, p.groups, p.n));
    size_t n_fake = 0;
    for (size_t i = 0; i < p.n; i++) {
        n_fake += p.labels[i] == DFD_LABEL_FAKE;
    }
    double frac = (double)n_fake / (double)p.n;
    for (int f = 0; f < k; f++) {
        size_t n = 0, fk = 0;
        for (size_t i = 0; i < p.n; i++) {
            CHECK(fold[i] >= 0 && fold[i] < k);
            n += fold[i] == f;
            fk += fold[i] == f && p.labels[i] == DFD_LABEL_FAKE;
        }
        // Sizes within 5% of n/k, fake ratio within 0.02 of the whole.
        CHECK(fabs((double)n - (double)p.n / k) <= 0.05 * (double)p.n / k);
        CHECK_NEAR((double)fk / (double)n, frac, 0.02);
    }
    // Same seed, same split; another seed, another split (still valid).
    CHECK_OK(dfd_split_assign(again, p.labels, p.groups, p.n, w, k, 42, &err));
    CHECK(memcmp(fold, again, p.n * sizeof *fold) == 0);
    CHECK_OK(dfd_split_assign(other, p.labels, p.groups, p.n, w, k, 43, &err));
    size_t moved = 0;
    for (size_t i = 0; i < p.n; i++) {
        moved += fold[i] != other[i];
    }
    CHECK(moved > p.n / 2); // a fresh random split moves about (k-1)/k of the items
    CHECK(groups_whole(other, p.groups, p.n));
    dfd_free(fold);
    dfd_free(again);
    dfd_free(other);
}

static void test_weighted_parts(void)
{
    static population p;
    make_population(&p, 300);
    const double w[2] = { 0.8, 0.2 };
    int *part = dfd_malloc(p.n * sizeof *part);
    REQUIRE(part);
    dfd_error err;
    CHECK_OK(dfd_split_assign(part, p.labels, p.groups, p.n, w, 2, 7, &err));
    CHECK(groups_whole(part, p.groups, p.n));
    for (int l = 0; l < DFD_LABEL_COUNT; l++) {
        size_t n = 0, v = 0;
        for (size_t i = 0; i < p.n; i++) {
            n += p.labels[i] == (dfd_label)l;
            v += p.labels[i] == (dfd_label)l && part[i] == 1;
        }
        CHECK_NEAR((double)v / (double)n, 0.2, 0.02);
    }
    dfd_free(part);
}

static void test_greedy_by_hand(void)
{
    // Groups of 4, 3, 2 and 1 REAL items into two equal parts. Largest first: 4 -> part 0 (both
    // empty: the first wins), 3 -> part 1 (cost 3 (2 (0 - 5) + 3) / 5 = -4.2 against
    // 3 (2 (4 - 5) + 3) / 5 = 0.6), 2 -> part 1 (-0.8 against 0), 1 -> part 0 (-0.2 against
    // 0.2): 5 and 5, whatever the seed.
    dfd_label labels[10] = { 0 };
    size_t groups[10] = { 9, 9, 9, 9, 5, 5, 5, 1, 1, 0 };
    const double w[2] = { 1, 1 };
    for (uint64_t seed = 0; seed < 20; seed++) {
        int part[10];
        dfd_error err;
        CHECK_OK(dfd_split_assign(part, labels, groups, 10, w, 2, seed, &err));
        CHECK(part[0] == 0 && part[4] == 1 && part[7] == 1 && part[9] == 0);
    }
}

static void test_invalid_requests(void)
{
    dfd_label labels[4] = { 0, 1, 0, 1 };
    size_t groups[4] = { 1, 1, 2, 2 };
    int part[4];
    const double w3[3] = { 1, 1, 1 }, wbad[2] = { 1, 0 };
    dfd_error err;
    CHECK_EQ_INT(dfd_split_assign(part, labels, groups, 4, w3, 3, 1, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "the data has 2");
    CHECK_EQ_INT(dfd_split_assign(part, labels, groups, 4, wbad, 2, 1, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_split_assign(part, labels, groups, 4, w3, 1, 1, &err), DFD_ERR_INVALID);
    labels[2] = (dfd_label)5;
    CHECK_EQ_INT(dfd_split_assign(part, labels, groups, 4, w3, 2, 1, &err), DFD_ERR_INVALID);
}

static void test_dataset_wrappers(void)
{
    const char *dir = test_dir("split");
    REQUIRE(dir);
    // 60 sources, each with two fakes: 180 files in 60 groups.
    char *csv = dfd_malloc(1 << 16);
    REQUIRE(csv);
    size_t len = (size_t)snprintf(csv, 1 << 16, "file,label,original\n");
    for (int s = 0; s < 60; s++) {
        len += (size_t)snprintf(
            csv + len, (1 << 16) - len,
            "r%02d.mp4,REAL,\nf%02da.mp4,FAKE,r%02d.mp4\nf%02db.mp4,FAKE,r%02d.mp4\n", s, s, s, s,
            s);
    }
    REQUIRE(write_text(dir, "labels.csv", csv) == 0);
    dfd_free(csv);
    dfd_dataset ds;
    dfd_dataset_opts o = dfd_dataset_opts_default();
    o.check_files = false;
    dfd_error err;
    CHECK_OK(dfd_dataset_load(&ds, dir, &o, &err));
    REQUIRE(ds.n == 180 && ds.n_groups == 60);
    int fold[180], part[180];
    CHECK_OK(dfd_split_kfold(fold, &ds, 5, 1, &err));
    CHECK_OK(dfd_split_train_val(part, &ds, 0.25, 1, &err));
    size_t per_fold[5] = { 0 }, n_val = 0;
    for (size_t i = 0; i < ds.n; i++) {
        size_t j = ds.items[i].i_original;
        if (j != DFD_NO_ITEM) {
            CHECK_EQ_INT(fold[i], fold[j]);
            CHECK_EQ_INT(part[i], part[j]);
        }
        per_fold[fold[i]]++;
        n_val += part[i] == 1;
    }
    for (int f = 0; f < 5; f++) {
        CHECK_EQ_INT(per_fold[f], 36); // 12 whole groups of 3 each
    }
    CHECK_EQ_INT(n_val, 45); // 15 groups
    CHECK_EQ_INT(dfd_split_train_val(part, &ds, 1.0, 1, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_split_kfold(fold, &ds, 1, 1, &err), DFD_ERR_INVALID);
    dfd_dataset_free(&ds);
    dfd_remove_tree(dir, NULL);
}

// The 180-file CSV of test_dataset_wrappers (60 sources with two fakes each), with a prefix on
// every name, loaded from dir/<sub>.
static void load_sources(dfd_dataset *ds, const char *dir, const char *sub, const char *prefix)
{
    char *csv = dfd_malloc(1 << 16), name[600];
    REQUIRE(csv);
    size_t len = (size_t)snprintf(csv, 1 << 16, "file,label,original\n");
    for (int s = 0; s < 60; s++) {
        len +=
            (size_t)snprintf(csv + len, (1 << 16) - len,
                             "%sr%02d.mp4,REAL,\n%sf%02da.mp4,FAKE,%sr%02d.mp4\n%sf%02db.mp4,FAKE,"
                             "%sr%02d.mp4\n",
                             prefix, s, prefix, s, prefix, s, prefix, s, prefix, s);
    }
    snprintf(name, sizeof name, "%s/labels.csv", sub);
    REQUIRE(write_text(dir, name, csv) == 0);
    dfd_free(csv);
    dfd_dataset_opts o = dfd_dataset_opts_default();
    o.check_files = false;
    snprintf(name, sizeof name, "%s/%s", dir, sub);
    dfd_error err;
    CHECK_OK(dfd_dataset_load(ds, name, &o, &err));
}

// Holding out a fold: exactly the k-fold's fold is held out, the rest splits into train and
// validation with whole groups, and folds = 0 is the plain train/validation split.
static void test_holdout(void)
{
    const char *dir = test_dir("holdout");
    REQUIRE(dir);
    dfd_dataset ds;
    load_sources(&ds, dir, "a", "");
    int fold[180], part[180], plain[180], again[180];
    dfd_error err;
    CHECK_OK(dfd_split_kfold(fold, &ds, 5, 7, &err));
    CHECK_OK(dfd_split_holdout(part, &ds, 0.25, 5, 3, 7, &err));
    CHECK_OK(dfd_split_holdout(again, &ds, 0.25, 5, 3, 7, &err));
    size_t n_part[3] = { 0 };
    for (size_t i = 0; i < ds.n; i++) {
        CHECK_EQ_INT(part[i] == DFD_SPLIT_HELDOUT, fold[i] == 3);
        CHECK_EQ_INT(part[i], again[i]);
        size_t j = ds.items[i].i_original;
        if (j != DFD_NO_ITEM) {
            CHECK_EQ_INT(part[i], part[j]);
        }
        n_part[part[i]]++;
    }
    CHECK_EQ_INT(n_part[2], 36);
    CHECK_EQ_INT(n_part[1], 36); // a quarter of the other 48 groups, 3 items each
    CHECK_EQ_INT(n_part[0], 108);
    CHECK_OK(dfd_split_holdout(part, &ds, 0.25, 0, 0, 7, &err));
    CHECK_OK(dfd_split_train_val(plain, &ds, 0.25, 7, &err));
    CHECK(memcmp(part, plain, sizeof part) == 0);
    CHECK_EQ_INT(dfd_split_holdout(part, &ds, 0.25, 5, 5, 7, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_split_holdout(part, &ds, 0, 5, 1, 7, &err), DFD_ERR_INVALID);
    dfd_dataset_free(&ds);
    dfd_remove_tree(dir, NULL);
}

// Two datasets as one: items in order with their own strings, groups kept apart, originals
// re-indexed; a file in both is refused.
static void test_concat(void)
{
    const char *dir = test_dir("concat");
    REQUIRE(dir);
    dfd_dataset parts[3];
    load_sources(&parts[0], dir, "a", "");
    load_sources(&parts[1], dir, "b", "x");
    load_sources(&parts[2], dir, "c", ""); // same names as "a" but other files: allowed
    dfd_dataset all;
    dfd_error err;
    CHECK_OK(dfd_dataset_concat(&all, parts, 3, &err));
    REQUIRE(all.n == 540 && all.n_groups == 180);
    for (size_t i = 0; i < all.n; i++) {
        const dfd_dataset_item *a = &all.items[i], *p = &parts[i / 180].items[i % 180];
        CHECK(strcmp(a->path, p->path) == 0 && a->path != p->path);
        CHECK_EQ_INT(a->label, p->label);
        CHECK_EQ_INT(a->i_group, p->i_group + (i / 180) * 60);
        CHECK_EQ_INT(a->part, i / 180);
        if (p->i_original == DFD_NO_ITEM) {
            CHECK(a->i_original == DFD_NO_ITEM);
        } else {
            CHECK_EQ_INT(a->i_original, p->i_original + (i / 180) * 180);
            CHECK(strcmp(all.items[a->i_original].file, a->original) == 0);
        }
    }
    for (int k = 0; k < 3; k++) {
        dfd_dataset_free(&parts[k]);
    }
    int fold[540];
    CHECK_OK(dfd_split_kfold(fold, &all, 5, 1, &err)); // the strings outlive the parts
    dfd_dataset_free(&all);
    load_sources(&parts[0], dir, "a", "");
    parts[1] = parts[0];
    CHECK_EQ_INT(dfd_dataset_concat(&all, parts, 2, &err), DFD_ERR_FORMAT);
    CHECK(strstr(err.msg, "r00.mp4") != NULL);
    CHECK(all.n == 0 && all.items == NULL);
    CHECK_EQ_INT(dfd_dataset_concat(&all, parts, 0, &err), DFD_ERR_INVALID);
    dfd_dataset_free(&parts[0]);
    dfd_remove_tree(dir, NULL);
}

DFD_TEST_MAIN({ "kfold_invariants", test_kfold_invariants }, { "holdout", test_holdout },
              { "concat", test_concat }, { "weighted_parts", test_weighted_parts },
              { "greedy_by_hand", test_greedy_by_hand },
              { "invalid_requests", test_invalid_requests },
              { "dataset_wrappers", test_dataset_wrappers })
