// Dataset readers on small generated datasets: CSV (quoting, CRLF, BOM, label spellings, column
// aliases), DFDC metadata.json and real/ + fake/ folders; the grouping rules (identity column,
// originals across extensions, transitive joins); one-line errors naming file and line; the
// summary. Checks the real lists of ../shared/data when present.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_test_util.h"
#include "dfdetect/data/dataset.h"
#include "test.h"

// Empty placeholder media: the readers only check that files exist and are not empty.
static int touch_media(const char *dir, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (write_text(dir, names[i], "x")) {
            return -1;
        }
    }
    return 0;
}

static const dfd_dataset_item *find(const dfd_dataset *ds, const char *file)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (strcmp(ds->items[i].file, file) == 0) {
            return &ds->items[i];
        }
    }
    return NULL;
}

static void test_label_spellings(void)
{
    dfd_label l;
    CHECK_OK(dfd_label_parse(&l, "REAL"));
    CHECK_EQ_INT(l, DFD_LABEL_REAL);
    CHECK_OK(dfd_label_parse(&l, " fake "));
    CHECK_EQ_INT(l, DFD_LABEL_FAKE);
    CHECK_OK(dfd_label_parse(&l, "Real"));
    CHECK_EQ_INT(l, DFD_LABEL_REAL);
    CHECK_OK(dfd_label_parse(&l, "1"));
    CHECK_EQ_INT(l, DFD_LABEL_FAKE);
    CHECK_OK(dfd_label_parse(&l, "0"));
    CHECK_EQ_INT(l, DFD_LABEL_REAL);
    CHECK_EQ_INT(dfd_label_parse(&l, "2"), DFD_ERR_FORMAT);
    CHECK_EQ_INT(dfd_label_parse(&l, "fakes"), DFD_ERR_FORMAT);
    CHECK_EQ_INT(dfd_label_parse(&l, ""), DFD_ERR_FORMAT);
    CHECK_EQ_INT(dfd_media_kind_of("a/b.JPG"), DFD_MEDIA_IMAGE);
    CHECK_EQ_INT(dfd_media_kind_of("b.png"), DFD_MEDIA_IMAGE);
    CHECK_EQ_INT(dfd_media_kind_of("b.mp4"), DFD_MEDIA_VIDEO);
    CHECK_EQ_INT(dfd_media_kind_of("noext"), DFD_MEDIA_VIDEO);
    CHECK(dfd_media_is_known("x.webm") && !dfd_media_is_known("notes.txt") &&
          !dfd_media_is_known(".hidden.mp4"));
}

static void test_csv_with_identity_groups(void)
{
    const char *dir = test_dir("csv_id");
    REQUIRE(dir);
    static const char *const media[] = { "r1.mp4", "r2.mp4", "r3.mp4",     "f1.mp4",
                                         "f2.mp4", "f3.mp4", "sub/f,4.mp4" };
    REQUIRE(touch_media(dir, media, 7) == 0);
    // BOM, CRLF, a quoted name with a comma, a blank line, spaces, label spellings.
    const char *csv = "\xEF\xBB\xBF"
                      "file,label,original,method,identity_group\r\n"
                      "r1.mp4,REAL,,original,g1\r\n"
                      "r2.mp4,real,,original,g2\r\n"
                      "\r\n"
                      "f1.mp4,FAKE,r1.mp4,Deepfakes,g1\r\n"
                      "f2.mp4, 1 ,r2.mp4,FaceSwap,g2\r\n"
                      "r3.mp4,0,,original,g3\r\n"
                      "f3.mp4,fake,r9.mp4,Deepfakes,g3\r\n"
                      "\"sub/f,4.mp4\",FAKE,\"r3.mp4\",\"Face2Face\",g4\r\n";
    REQUIRE(write_text(dir, "labels.csv", csv) == 0);
    dfd_dataset ds;
    dfd_error err;
    // The folder finds labels.csv.
    CHECK_OK(dfd_dataset_load(&ds, dir, NULL, &err));
    CHECK_EQ_INT(ds.format, DFD_DATASET_CSV);
    CHECK_EQ_INT(ds.n, 7);
    CHECK(ds.has_original && ds.has_method && ds.has_group_column);
    const dfd_dataset_item *r1 = find(&ds, "r1.mp4"), *f1 = find(&ds, "f1.mp4");
    const dfd_dataset_item *r3 = find(&ds, "r3.mp4"), *f3 = find(&ds, "f3.mp4");
    const dfd_dataset_item *f4 = find(&ds, "sub/f,4.mp4"), *f2 = find(&ds, "f2.mp4");
    REQUIRE(r1 && f1 && r3 && f3 && f4 && f2);
    CHECK_EQ_INT(f2->label, DFD_LABEL_FAKE);
    CHECK_EQ_INT(r3->label, DFD_LABEL_REAL);
    CHECK(strcmp(f4->method, "Face2Face") == 0);
    CHECK(strcmp(f4->original, "r3.mp4") == 0);
    CHECK_EQ_INT(f4->line, 9); // physical line of the row (the blank line counts)
    char want[1024];
    snprintf(want, sizeof want, "%s/sub/f,4.mp4", dir);
    CHECK(strcmp(f4->path, want) == 0);
    // g1 = {r1, f1}, g2 = {r2, f2}; g3 and g4 are joined through f4's original r3.
    CHECK_EQ_INT(ds.n_groups, 3);
    CHECK_EQ_INT(r1->i_group, f1->i_group);
    CHECK_EQ_INT(f4->i_group, r3->i_group);
    CHECK_EQ_INT(f3->i_group, r3->i_group);
    CHECK(r1->i_group != r3->i_group);
    CHECK(strcmp(r1->group, "g1") == 0);
    CHECK(strcmp(f4->group, "g3") == 0); // the first item of the component names it
    // Originals resolve to items; r9 is not in the dataset.
    CHECK(&ds.items[f1->i_original] == r1);
    CHECK(&ds.items[f4->i_original] == r3);
    CHECK_EQ_INT(f3->i_original, DFD_NO_ITEM);

    dfd_dataset_summary s;
    CHECK_OK(dfd_dataset_summarize(&s, &ds));
    CHECK_EQ_INT(s.n_label[DFD_LABEL_REAL], 3);
    CHECK_EQ_INT(s.n_label[DFD_LABEL_FAKE], 4);
    CHECK_EQ_INT(s.n_kind[DFD_MEDIA_VIDEO], 7);
    CHECK_EQ_INT(s.n_groups_mixed, 3);
    CHECK_EQ_INT(s.max_group, 3);
    CHECK_EQ_INT(s.n_fake_original, 4);
    CHECK_EQ_INT(s.n_original_found, 3);
    REQUIRE(s.n_methods == 4);
    CHECK(strcmp(s.methods[0].name, "original") == 0 && s.methods[0].n == 3);
    CHECK(strcmp(s.methods[1].name, "Deepfakes") == 0 && s.methods[1].n == 2);
    CHECK(strcmp(s.methods[2].name, "Face2Face") == 0 && s.methods[2].n == 1);
    dfd_dataset_summary_free(&s);
    dfd_dataset_free(&ds);
    dfd_remove_tree(dir, NULL);
}

static void test_csv_groups_without_identity_column(void)
{
    const char *dir = test_dir("csv_orig");
    REQUIRE(dir);
    static const char *const media[] = { "a.jpg", "b.jpg", "c.jpg", "d.png", "e.jpg" };
    REQUIRE(touch_media(dir, media, 5) == 0);
    // DFDC face crops: originals are named as videos (.mp4), the crops are .jpg.
    const char *csv = "filename,label,original\n"
                      "a.jpg,FAKE,b.mp4\n"
                      "b.jpg,REAL,\n"
                      "c.jpg,FAKE,b.mp4\n"
                      "d.png,FAKE,\n"
                      "e.jpg,REAL,";
    REQUIRE(write_text(dir, "list.csv", csv) == 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/list.csv", dir);
    dfd_dataset ds;
    dfd_error err;
    CHECK_OK(dfd_dataset_load(&ds, path, NULL, &err));
    REQUIRE(ds.n == 5);
    CHECK(!ds.has_group_column && !ds.has_method);
    const dfd_dataset_item *a = find(&ds, "a.jpg"), *b = find(&ds, "b.jpg"),
                           *c = find(&ds, "c.jpg"), *d = find(&ds, "d.png"),
                           *e = find(&ds, "e.jpg");
    REQUIRE(a && b && c && d && e);
    CHECK_EQ_INT(a->kind, DFD_MEDIA_IMAGE);
    CHECK_EQ_INT(ds.n_groups, 3); // {a, b, c}, {d}, {e}
    CHECK_EQ_INT(a->i_group, b->i_group);
    CHECK_EQ_INT(c->i_group, b->i_group);
    CHECK(d->i_group != e->i_group && d->i_group != a->i_group);
    CHECK(strcmp(a->group, "b") == 0); // the original's name, extension stripped
    CHECK(strcmp(e->group, "e") == 0);
    CHECK(&ds.items[a->i_original] == b);
    dfd_dataset_free(&ds);

    // An explicit group column that is absent.
    dfd_dataset_opts o = dfd_dataset_opts_default();
    o.group_column = "person";
    CHECK_EQ_INT(dfd_dataset_load(&ds, path, &o, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "person");
    CHECK(ds.n == 0 && ds.items == NULL);
    dfd_remove_tree(dir, NULL);
}

// Load `csv` from dir/labels.csv and expect failure `code` with a message containing `needle`.
static void expect_csv_error(const char *dir, const char *csv, dfd_status code, const char *needle)
{
    REQUIRE(write_text(dir, "labels.csv", csv) == 0);
    dfd_dataset ds;
    dfd_error err;
    dfd_status st = dfd_dataset_load(&ds, dir, NULL, &err);
    CHECK_EQ_INT(st, code);
    CHECK_STR_CONTAINS(err.msg, needle);
    CHECK_STR_CONTAINS(err.msg, "labels.csv");
    CHECK(strchr(err.msg, '\n') == NULL);
    if (st == DFD_OK) {
        dfd_dataset_free(&ds);
    }
}

static void test_csv_errors_name_file_and_line(void)
{
    const char *dir = test_dir("csv_err");
    REQUIRE(dir);
    static const char *const media[] = { "a.mp4", "b.mp4" };
    REQUIRE(touch_media(dir, media, 2) == 0);
    REQUIRE(write_text(dir, "empty.mp4", "") == 0);
    expect_csv_error(dir, "file,label\na.mp4,REAL\nmissing.mp4,FAKE\n", DFD_ERR_NOT_FOUND,
                     "labels.csv:3: ");
    expect_csv_error(dir, "file,label\na.mp4,REAL\nmissing.mp4,FAKE\n", DFD_ERR_NOT_FOUND,
                     "missing.mp4: no such file");
    expect_csv_error(dir, "file,label\na.mp4,REAL\nb.mp4,maybe\n", DFD_ERR_FORMAT,
                     "labels.csv:3: label 'maybe' is not REAL, FAKE, 0 or 1");
    expect_csv_error(dir, "file,label\na.mp4,REAL,extra\n", DFD_ERR_FORMAT,
                     "labels.csv:2: 3 fields, the header has 2");
    expect_csv_error(dir, "name,label\na.mp4,REAL\n", DFD_ERR_FORMAT, "'file' column");
    expect_csv_error(dir, "file,kind\na.mp4,REAL\n", DFD_ERR_FORMAT, "'label' column");
    expect_csv_error(dir, "file,label\na.mp4,REAL\n\"b.mp4,FAKE\n", DFD_ERR_FORMAT,
                     "labels.csv:3: unterminated quoted field");
    expect_csv_error(dir, "file,label\na.mp4,REAL\nb.mp4,FAKE\na.mp4,FAKE\n", DFD_ERR_FORMAT,
                     "labels.csv:4: a.mp4 is listed twice (first on line 2)");
    expect_csv_error(dir, "file,label\n,REAL\n", DFD_ERR_FORMAT, "labels.csv:2: empty file name");
    expect_csv_error(dir, "file,label\nempty.mp4,REAL\n", DFD_ERR_FORMAT, "labels.csv:2: ");
    expect_csv_error(dir, "file,label\n\n", DFD_ERR_FORMAT, "no videos or images");
    expect_csv_error(dir, "", DFD_ERR_FORMAT, "no header");
    // A folder named as a file.
    REQUIRE(write_text(dir, "sub/x.mp4", "x") == 0);
    expect_csv_error(dir, "file,label\nsub,REAL\n", DFD_ERR_INVALID, "labels.csv:2: ");

    // Without the existence check, missing files are accepted.
    REQUIRE(write_text(dir, "labels.csv", "file,label\nmissing.mp4,FAKE\n") == 0);
    dfd_dataset_opts o = dfd_dataset_opts_default();
    o.check_files = false;
    dfd_dataset ds;
    dfd_error err;
    CHECK_OK(dfd_dataset_load(&ds, dir, &o, &err));
    CHECK_EQ_INT(ds.n, 1);
    dfd_dataset_free(&ds);
    dfd_remove_tree(dir, NULL);
}

static void test_dfdc_metadata(void)
{
    const char *dir = test_dir("dfdc");
    REQUIRE(dir);
    static const char *const media[] = { "aaa.mp4", "bbb.mp4", "ccc.mp4", "ddd.mp4" };
    REQUIRE(touch_media(dir, media, 4) == 0);
    const char *json = "{\n"
                       "  \"aaa.mp4\": {\"label\": \"FAKE\", \"split\": \"train\",\n"
                       "              \"original\": \"bbb.mp4\"},\n"
                       "  \"bbb.mp4\": {\"label\": \"REAL\", \"split\": \"train\", "
                       "\"original\": null},\n"
                       "  \"ccc.mp4\": {\"label\": \"FAKE\", \"split\": \"train\", "
                       "\"original\": \"bbb.mp4\"},\n"
                       "  \"ddd.mp4\": {\"label\": \"REAL\", \"split\": \"test\"}\n"
                       "}\n";
    REQUIRE(write_text(dir, "metadata.json", json) == 0);
    dfd_dataset ds;
    dfd_error err;
    CHECK_OK(dfd_dataset_load(&ds, dir, NULL, &err));
    CHECK_EQ_INT(ds.format, DFD_DATASET_DFDC);
    REQUIRE(ds.n == 4);
    const dfd_dataset_item *a = find(&ds, "aaa.mp4"), *b = find(&ds, "bbb.mp4"),
                           *c = find(&ds, "ccc.mp4"), *d = find(&ds, "ddd.mp4");
    REQUIRE(a && b && c && d);
    CHECK_EQ_INT(a->label, DFD_LABEL_FAKE);
    CHECK(strcmp(a->original, "bbb.mp4") == 0 && b->original == NULL);
    CHECK(strcmp(d->split, "test") == 0);
    CHECK_EQ_INT(a->line, 2);
    CHECK_EQ_INT(c->line, 5);
    CHECK_EQ_INT(ds.n_groups, 2);
    CHECK(a->i_group == b->i_group && c->i_group == b->i_group && d->i_group != b->i_group);
    dfd_dataset_free(&ds);

    // A bad entry is reported with its line.
    const char *bad = "{\n  \"aaa.mp4\": {\"label\": \"FAKE\"},\n"
                      "  \"bbb.mp4\": {\"label\": \"UNKNOWN\"}\n}\n";
    REQUIRE(write_text(dir, "metadata.json", bad) == 0);
    CHECK_EQ_INT(dfd_dataset_load(&ds, dir, NULL, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "metadata.json:3: entry 'bbb.mp4': label is not REAL");
    REQUIRE(write_text(dir, "metadata.json", "{\n \"aaa.mp4\": {\"label\": \"FAKE\"}\n") == 0);
    CHECK_EQ_INT(dfd_dataset_load(&ds, dir, NULL, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "metadata.json:");
    CHECK_STR_CONTAINS(err.msg, "not valid JSON");
    REQUIRE(write_text(dir, "metadata.json", "{\"zzz.mp4\": {\"label\": \"FAKE\"}}") == 0);
    CHECK_EQ_INT(dfd_dataset_load(&ds, dir, NULL, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "metadata.json:1: ");
    CHECK_STR_CONTAINS(err.msg, "zzz.mp4: no such file");
    dfd_remove_tree(dir, NULL);
}

static void test_real_fake_folders(void)
{
    char dir[512]; // test_dir's buffer is reused below
    REQUIRE(test_dir("folders"));
    snprintf(dir, sizeof dir, "%s", test_dir_last());
    static const char *const media[] = { "Real/x1.mp4",  "Real/x2.png", "Real/notes.txt",
                                         "FAKE/y1.webm", "FAKE/x1.mp4", "FAKE/.hidden.mp4" };
    REQUIRE(touch_media(dir, media, 6) == 0);
    dfd_dataset ds;
    dfd_error err;
    CHECK_OK(dfd_dataset_load(&ds, dir, NULL, &err));
    CHECK_EQ_INT(ds.format, DFD_DATASET_FOLDERS);
    REQUIRE(ds.n == 4);
    const dfd_dataset_item *rx1 = find(&ds, "Real/x1.mp4"), *fx1 = find(&ds, "FAKE/x1.mp4");
    const dfd_dataset_item *x2 = find(&ds, "Real/x2.png"), *y1 = find(&ds, "FAKE/y1.webm");
    REQUIRE(rx1 && fx1 && x2 && y1);
    CHECK_EQ_INT(rx1->label, DFD_LABEL_REAL);
    CHECK_EQ_INT(y1->label, DFD_LABEL_FAKE);
    CHECK_EQ_INT(x2->kind, DFD_MEDIA_IMAGE);
    // Same name on both sides: one group (the fake is probably made from the real one).
    CHECK_EQ_INT(rx1->i_group, fx1->i_group);
    CHECK_EQ_INT(ds.n_groups, 3);
    dfd_dataset_free(&ds);

    // Neither layout, and a missing path.
    const char *empty = test_dir("folders_none");
    REQUIRE(empty);
    CHECK_EQ_INT(dfd_dataset_load(&ds, empty, NULL, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "not a dataset folder");
    CHECK_EQ_INT(dfd_dataset_load(&ds, "/nonexistent/data", NULL, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent/data");
    dfd_remove_tree(empty, NULL);
    dfd_remove_tree(dir, NULL);
}

// The real lists of ../shared/data (research data; skipped when absent).
static void test_shared_data_lists(void)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    char ffpp[1024], dfdc[1024];
    snprintf(ffpp, sizeof ffpp, "%s/../shared/data/ffpp_c23/labels.csv", src ? src : ".");
    snprintf(dfdc, sizeof dfdc, "%s/../shared/data/dfdc_faces/labels.csv", src ? src : ".");
    if (dfd_file_check_regular(ffpp, NULL, NULL) != DFD_OK ||
        dfd_file_check_regular(dfdc, NULL, NULL) != DFD_OK) {
        TEST_SKIP("../shared/data absent (research data, not part of the repository)");
    }
    dfd_dataset ds;
    dfd_dataset_summary s;
    dfd_error err;
    CHECK_OK(dfd_dataset_load(&ds, ffpp, NULL, &err));
    CHECK_OK(dfd_dataset_summarize(&s, &ds));
    // README: 64 videos, 23 REAL, 41 FAKE (Deepfakes 23, Face2Face 9, FaceSwap 9).
    CHECK_EQ_INT(s.n, 64);
    CHECK_EQ_INT(s.n_label[DFD_LABEL_REAL], 23);
    CHECK_EQ_INT(s.n_label[DFD_LABEL_FAKE], 41);
    CHECK_EQ_INT(s.n_kind[DFD_MEDIA_VIDEO], 64);
    CHECK(ds.has_group_column);
    CHECK_EQ_INT(s.n_methods, 4);
    // Every fake shares its group with its original when the original is here.
    for (size_t i = 0; i < ds.n; i++) {
        size_t j = ds.items[i].i_original;
        CHECK(j == DFD_NO_ITEM || ds.items[j].i_group == ds.items[i].i_group);
    }
    fprintf(stderr, "    ffpp_c23: %zu groups (%zu with both labels, largest %zu)\n", s.n_groups,
            s.n_groups_mixed, s.max_group);
    dfd_dataset_summary_free(&s);
    dfd_dataset_free(&ds);

    CHECK_OK(dfd_dataset_load(&ds, dfdc, NULL, &err));
    CHECK_OK(dfd_dataset_summarize(&s, &ds));
    CHECK_EQ_INT(s.n, 6530);
    CHECK_EQ_INT(s.n_label[DFD_LABEL_REAL], 3265);
    CHECK_EQ_INT(s.n_label[DFD_LABEL_FAKE], 3265);
    CHECK_EQ_INT(s.n_kind[DFD_MEDIA_IMAGE], 6530);
    fprintf(stderr, "    dfdc_faces: %zu groups (%zu with both labels, largest %zu)\n", s.n_groups,
            s.n_groups_mixed, s.max_group);
    dfd_dataset_summary_free(&s);
    dfd_dataset_free(&ds);
}

DFD_TEST_MAIN({ "label_spellings", test_label_spellings },
              { "csv_with_identity_groups", test_csv_with_identity_groups },
              { "csv_groups_without_identity_column", test_csv_groups_without_identity_column },
              { "csv_errors_name_file_and_line", test_csv_errors_name_file_and_line },
              { "dfdc_metadata", test_dfdc_metadata },
              { "real_fake_folders", test_real_fake_folders },
              { "shared_data_lists", test_shared_data_lists })
