// HTML report (report/html.h): escaping of every text, the exact markup of each part, image path
// checks against injection and traversal, the sticky first error, atomic writes and
// out-of-memory behaviour.
#include <string.h>

#include "dfdetect/report/html.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "image/image_test_util.h"
#include "test.h"

static void test_escape_replaces_the_five_special_characters(void)
{
    char *e = dfd_html_escape_dup("a<b>&\"'c\x01\x7f\td\n\xc3\xa9");
    REQUIRE(e != NULL);
    CHECK(strcmp(e, "a&lt;b&gt;&amp;&quot;&#39;c\td\n\xc3\xa9") == 0);
    dfd_free(e);
    e = dfd_html_escape_dup("");
    REQUIRE(e != NULL);
    CHECK(e[0] == '\0');
    dfd_free(e);
    CHECK(dfd_html_escape_dup(NULL) == NULL);
}

static void test_parts_are_escaped_in_reading_order(void)
{
    dfd_html *h;
    CHECK_OK(dfd_html_create(&h, "Eval <model> & \"data\"", NULL));
    CHECK_OK(dfd_html_heading(h, "Video level"));
    CHECK_OK(dfd_html_paragraph(h, "<script>alert('x')</script>"));
    static const char *const head[2] = { "metric", "value" };
    static const char *const cells[6] = { "AUC",  "0.953",         "log loss",
                                          "0.21", "FPR @ 90% TPR", "4.5%" };
    CHECK_OK(dfd_html_table(h, "Metrics", head, 2, cells, 3));
    CHECK_OK(dfd_html_image(h, "charts/roc.png", NULL, "ROC <curve>"));
    const char *t = dfd_html_text(h);
    REQUIRE(t != NULL);
    CHECK(strncmp(t, "<!DOCTYPE html>", 15) == 0);
    CHECK_STR_CONTAINS(t, "<title>Eval &lt;model&gt; &amp; &quot;data&quot;</title>");
    CHECK_STR_CONTAINS(t, "<h1>Eval &lt;model&gt; &amp; &quot;data&quot;</h1>");
    CHECK_STR_CONTAINS(t, "<h2>Video level</h2>");
    CHECK_STR_CONTAINS(t, "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>");
    CHECK(strstr(t, "<script") == NULL);
    CHECK_STR_CONTAINS(t, "<caption>Metrics</caption>");
    CHECK_STR_CONTAINS(t, "<tr><th>metric</th><th>value</th></tr>");
    CHECK_STR_CONTAINS(t, "<tr><td>AUC</td><td class=\"num\">0.953</td></tr>");
    CHECK_STR_CONTAINS(t, "<td class=\"num\">4.5%</td>");
    CHECK_STR_CONTAINS(t, "<td>FPR @ 90% TPR</td>");
    CHECK_STR_CONTAINS(t, "<figure><img src=\"charts/roc.png\" alt=\"ROC &lt;curve&gt;\">"
                          "<figcaption>ROC &lt;curve&gt;</figcaption>\n</figure>");
    CHECK_STR_CONTAINS(t, "Content-Security-Policy");
    CHECK_STR_CONTAINS(t, "default-src 'none'");
    // Parts appear in the order they were added, and the page is closed exactly once.
    CHECK(strstr(t, "Video level") < strstr(t, "alert") && strstr(t, "alert") < strstr(t, "AUC"));
    size_t n = strlen(t);
    CHECK(n > 16 && strcmp(t + n - 16, "</body>\n</html>\n") == 0);
    // More can follow: the closing tags move to the end.
    CHECK_OK(dfd_html_paragraph(h, "after"));
    t = dfd_html_text(h);
    CHECK(strstr(t, "</html>") > strstr(t, "<p>after</p>"));
    CHECK(strstr(strstr(t, "</html>") + 1, "</html>") == NULL); // closed once
    dfd_html_destroy(h);
}

static void test_unsafe_image_paths_are_refused(void)
{
    static const char *const bad[] = {
        "/etc/passwd.png",
        "../secret.png",
        "a/../../b.png",
        "..",
        "javascript:alert(1)",
        "a\\b.png",
        "x.png\" onerror=\"alert(1)",
        "data:image/png,AAAA",
        "",
        "x.png?a=b",
        "file:///tmp/x.png",
        "<x>.png",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dfd_html *h;
        CHECK_OK(dfd_html_create(&h, NULL, NULL));
        CHECK(dfd_html_image(h, bad[i], NULL, NULL) == DFD_ERR_INVALID);
        dfd_html_destroy(h);
    }
    static const char *const good[] = { "roc.png", "charts/cm 2.png", "a..b.png", "./x.png",
                                        "frames/clip_01/f-3.jpg" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        dfd_html *h;
        CHECK_OK(dfd_html_create(&h, NULL, NULL));
        CHECK(dfd_html_image(h, good[i], NULL, NULL) == DFD_OK);
        dfd_html_destroy(h);
    }
}

static void test_first_error_sticks_and_write_reports_it(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    dfd_html *h;
    CHECK_OK(dfd_html_create(&h, "t", NULL));
    CHECK(dfd_html_image(h, "../x.png", NULL, NULL) == DFD_ERR_INVALID);
    CHECK(dfd_html_paragraph(h, "ignored") == DFD_ERR_INVALID);
    CHECK(dfd_html_table(h, NULL, NULL, 1, NULL, 0) == DFD_ERR_INVALID);
    CHECK(dfd_html_text(h) == NULL);
    dfd_error err;
    CHECK(dfd_html_write(h, tmpdir_path(path, sizeof path, dir, "r.html"), &err) ==
          DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "r.html: html report: image path");
    CHECK_EQ_INT(tmpdir_count(dir), 0);
    dfd_html_destroy(h);
    // Table shape errors.
    CHECK_OK(dfd_html_create(&h, "t", NULL));
    CHECK(dfd_html_table(h, NULL, NULL, 0, NULL, 0) == DFD_ERR_INVALID);
    dfd_html_destroy(h);
    CHECK_OK(dfd_html_create(&h, "t", NULL));
    CHECK(dfd_html_table(h, NULL, NULL, 2, NULL, 1) == DFD_ERR_INVALID);
    dfd_html_destroy(h);
    tmpdir_remove(dir);
}

static void test_write_produces_the_text_atomically(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    dfd_html *h;
    CHECK_OK(dfd_html_create(&h, "report", NULL));
    static const char *const cells[2] = { NULL, "x" };
    CHECK_OK(dfd_html_table(h, NULL, NULL, 2, cells, 1));
    tmpdir_path(path, sizeof path, dir, "index.html");
    CHECK_OK(dfd_html_write(h, path, NULL));
    void *data;
    size_t n;
    CHECK_OK(dfd_file_read_all(&data, &n, path, 1 << 20, NULL));
    const char *t = dfd_html_text(h);
    CHECK(n == strlen(t) && memcmp(data, t, n) == 0);
    CHECK_STR_CONTAINS((const char *)data, "<tr><td></td><td>x</td></tr>");
    dfd_free(data);
    dfd_error err;
    CHECK(dfd_html_write(h, tmpdir_path(path, sizeof path, dir, "no/dir/r.html"), &err) ==
          DFD_ERR_IO);
    CHECK(dfd_html_write(h, "", &err) == DFD_ERR_INVALID);
    CHECK_EQ_INT(tmpdir_count(dir), 1);
    dfd_html_destroy(h);
    dfd_html_destroy(NULL);
    tmpdir_remove(dir);
}

static void test_out_of_memory_is_sticky_and_clean(void)
{
    // A long paragraph forces the buffer to grow; failing each allocation in turn must give
    // NOMEM somewhere and never a partial page.
    char big[20000];
    memset(big, '<', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int nomem = 0;
    for (long k = 0; k < 6; k++) {
        dfd_html *h = NULL;
        dfd_alloc_fail_after(k);
        dfd_status st = dfd_html_create(&h, "t", NULL);
        if (!st) {
            st = dfd_html_paragraph(h, big);
        }
        const char *t = st ? NULL : dfd_html_text(h);
        dfd_alloc_fail_after(-1);
        if (st == DFD_ERR_NOMEM) {
            nomem++;
            CHECK(!h || dfd_html_text(h) == NULL);
        } else {
            CHECK(st == DFD_OK && t && strlen(t) > 5 * (sizeof big - 1));
        }
        dfd_html_destroy(h);
    }
    CHECK(nomem >= 2);
}

DFD_TEST_MAIN({ "escape_replaces_the_five_special_characters",
                test_escape_replaces_the_five_special_characters },
              { "parts_are_escaped_in_reading_order", test_parts_are_escaped_in_reading_order },
              { "unsafe_image_paths_are_refused", test_unsafe_image_paths_are_refused },
              { "first_error_sticks_and_write_reports_it",
                test_first_error_sticks_and_write_reports_it },
              { "write_produces_the_text_atomically", test_write_produces_the_text_atomically },
              { "out_of_memory_is_sticky_and_clean", test_out_of_memory_is_sticky_and_clean })
