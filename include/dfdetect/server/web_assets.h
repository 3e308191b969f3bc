// The web page served at "/" by `dfdetect serve`: plain HTML, CSS and JavaScript from
// src/server/web/, embedded into the binary at build time (cmake/embed_web.cmake writes them as
// byte arrays into a generated C file), so the server needs no files beside it and no CDN.
#ifndef DFD_SERVER_WEB_ASSETS_H
#define DFD_SERVER_WEB_ASSETS_H

#include <stddef.h>

// One embedded file. Everything points into static read-only data that lives as long as the
// program; nothing is ever freed.
typedef struct dfd_web_asset {
    const char *path;          // URL path, e.g. "/index.html", "/app.js" (always starts with '/')
    const char *mime;          // Content-Type value, with "; charset=utf-8" for text types
    const unsigned char *data; // the file's bytes (followed by one NUL not counted in size)
    size_t size;               // bytes in data; > 0 for every asset
} dfd_web_asset;

// The asset served at the URL path `path` (without query string), or NULL when there is none
// (and for NULL). "/" maps to "/index.html". Matching is exact and case-sensitive: no directory
// traversal, no normalisation. Thread-safe (reads constant tables only).
const dfd_web_asset *dfd_web_asset_find(const char *path);

// The embedded assets in a fixed order (index.html first), for listings and tests: n_assets
// receives their count (may be NULL). Thread-safe.
const dfd_web_asset *dfd_web_assets(size_t *n_assets);

#endif
