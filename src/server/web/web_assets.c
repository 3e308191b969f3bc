// Lookup of the web page's files embedded at build time (the table comes from the C source that
// cmake/embed_web.cmake generates): the server's router asks here for every GET outside /api.
#include "dfdetect/server/web_assets.h"

#include <string.h>

#include "web_embed.h"

const dfd_web_asset *dfd_web_assets(size_t *n_assets)
{
    if (n_assets)
        *n_assets = dfd_web_n_embedded;
    return dfd_web_embedded;
}

const dfd_web_asset *dfd_web_asset_find(const char *path)
{
    if (!path)
        return NULL;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    // A handful of files: a linear scan is as fast as anything else.
    for (size_t i = 0; i < dfd_web_n_embedded; i++) {
        if (strcmp(dfd_web_embedded[i].path, path) == 0)
            return &dfd_web_embedded[i];
    }
    return NULL;
}
