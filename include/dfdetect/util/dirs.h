// Directory trees: listing a folder, removing a tree, and publishing a folder whole (its content
// is built in a temporary directory next to the destination and swapped in at once, so a reader
// sees the old folder or the new one, never half of one).
#ifndef DFD_UTIL_DIRS_H
#define DFD_UTIL_DIRS_H

#include <stddef.h>

#include "dfdetect/util/status.h"

// The names (not paths) of the entries of `dir` that are regular files (symbolic links to them
// included), sorted bytewise, hidden ones (".name") left out. *names is an array of *n strings;
// free with dfd_dir_list_free. Errors: DFD_ERR_NOT_FOUND, DFD_ERR_INVALID (not a directory),
// DFD_ERR_IO, DFD_ERR_NOMEM.
dfd_status dfd_dir_list_files(char ***names, size_t *n, const char *dir, dfd_error *err);
void dfd_dir_list_free(char **names, size_t n); // accepts NULL

// Remove a file or a whole directory tree (like `rm -rf`, without following symbolic links). A
// missing path is not an error. Errors: DFD_ERR_IO (naming the entry that could not go).
dfd_status dfd_remove_tree(const char *path, dfd_error *err);

// Create an empty directory "<path>.tmp.XXXXXX" next to `path` (whose parent must exist) and
// write its name into tmp (capacity n). Errors: DFD_ERR_LIMIT (name too long), DFD_ERR_IO.
dfd_status dfd_temp_dir_create(char *tmp, size_t n, const char *path, dfd_error *err);

// Move the directory `tmp` to `path`. A directory already at `path` is replaced (exchanged
// atomically where the file system can, then removed). Errors: DFD_ERR_INVALID (`path` exists and
// is not a directory), DFD_ERR_IO; `tmp` is left in place on error.
dfd_status dfd_dir_publish(const char *tmp, const char *path, dfd_error *err);

#endif
