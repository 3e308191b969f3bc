// The table that cmake/embed_web.cmake generates from the files of this folder (index.html first)
// and web_assets.c searches. Only those two files include this header.
#ifndef DFD_SERVER_WEB_EMBED_H
#define DFD_SERVER_WEB_EMBED_H

#include <stddef.h>

#include "dfdetect/server/web_assets.h"

// The embedded files in the order of WEB_FILES in CMakeLists.txt; static read-only data.
extern const dfd_web_asset dfd_web_embedded[];
extern const size_t dfd_web_n_embedded;

#endif
