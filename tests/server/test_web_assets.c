// The web page embedded at build time (src/server/web, cmake/embed_web.cmake): every file is
// found by its URL path with the right Content-Type and its real bytes, "/" is the page, and
// anything else (traversal, other case, query strings) is not found.
#include <string.h>

#include "dfdetect/server/web_assets.h"
#include "test.h"

// The asset at path, checked to be non-empty, NUL-terminated text of mime containing needle.
static void check_asset(const char *path, const char *mime, const char *needle)
{
    const dfd_web_asset *a = dfd_web_asset_find(path);
    REQUIRE(a != NULL);
    CHECK(a->path[0] == '/');
    CHECK(strcmp(a->mime, mime) == 0);
    REQUIRE(a->data != NULL);
    CHECK(a->size > 100);
    CHECK(a->data[a->size] == '\0');
    CHECK(strlen((const char *)a->data) == a->size); // text: no NUL inside
    CHECK_STR_CONTAINS((const char *)a->data, needle);
}

static void assets_are_found_with_their_content_type(void)
{
    check_asset("/index.html", "text/html; charset=utf-8", "<!doctype html>");
    check_asset("/app.js", "text/javascript; charset=utf-8", "/api/v1");
    check_asset("/style.css", "text/css; charset=utf-8", ".verdict");
}

static void slash_is_the_page_and_it_links_its_files(void)
{
    const dfd_web_asset *root = dfd_web_asset_find("/");
    REQUIRE(root != NULL);
    CHECK(root == dfd_web_asset_find("/index.html"));
    const char *html = (const char *)root->data;
    CHECK_STR_CONTAINS(html, "src=\"app.js\"");
    CHECK_STR_CONTAINS(html, "href=\"style.css\"");
    CHECK(strstr(html, "http://") == NULL && strstr(html, "https://") == NULL); // no CDN
}

static void the_listing_holds_every_asset_once(void)
{
    size_t n = 0;
    const dfd_web_asset *all = dfd_web_assets(&n);
    REQUIRE(all != NULL);
    CHECK_EQ_INT(n, 3);
    CHECK(strcmp(all[0].path, "/index.html") == 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(all[i].size > 0);
        CHECK(dfd_web_asset_find(all[i].path) == &all[i]);
        for (size_t j = i + 1; j < n; j++) {
            CHECK(strcmp(all[i].path, all[j].path) != 0);
        }
    }
    CHECK(dfd_web_assets(NULL) == all);
}

static void unknown_paths_are_not_found(void)
{
    static const char *const bad[] = {
        "",         "index.html",   "app.js",     "/APP.JS",    "/app.js?v=1",
        "/app.js/", "//app.js",     "/./app.js",  "/../app.js", "/web/app.js",
        "/api/v1",  "/favicon.ico", "/index.htm", "/style.cs",  "/%2e%2e/etc/passwd",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(dfd_web_asset_find(bad[i]) == NULL);
    }
    CHECK(dfd_web_asset_find(NULL) == NULL);
}

DFD_TEST_MAIN({ "assets_are_found_with_their_content_type",
                assets_are_found_with_their_content_type },
              { "slash_is_the_page_and_it_links_its_files",
                slash_is_the_page_and_it_links_its_files },
              { "the_listing_holds_every_asset_once", the_listing_holds_every_asset_once },
              { "unknown_paths_are_not_found", unknown_paths_are_not_found })
