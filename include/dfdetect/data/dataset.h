// Labelled datasets: the list of videos and images a model trains and is evaluated on, each with
// its label (REAL or FAKE), where it came from and the group it must stay with when the data is
// split. Three layouts are read:
//
//   DFDC     a folder holding metadata.json: {"<file>": {"label": "FAKE", "original":
//            "<file>" | null, "split": "train"}, ...}; files are relative to the folder.
//   CSV      a file (or a folder holding labels.csv) with a header row naming the columns.
//   Required:
//            `file` (also accepted: filename, path, video, image) and `label`. Optional:
//            `original` (the source video of a fake), `method` (manipulation method),
//            `identity_group` (videos sharing a person), and any others (ignored). RFC 4180
//            quoting, CRLF or LF, a UTF-8 byte-order mark are all accepted; blank lines are
//            skipped. Files are relative to the CSV's folder unless absolute.
//   FOLDERS  a folder with real/ and fake/ subfolders (names case-insensitive) holding the videos
//            and images directly (hidden files and unknown extensions are skipped).
//
// Labels: REAL or FAKE in any case, or 0 (REAL) and 1 (FAKE), surrounding spaces ignored.
//
// Media: a file whose name ends in .jpg, .jpeg or .png is an image (a one-frame video for the
// rest of the pipeline); anything else is a video that FFmpeg is asked to open.
//
// Groups. Fakes share faces with their originals, and identities recur across videos, so a
// split must never put related files on both sides. Every item gets tokens: the value of its
// group column (`identity_group` when the CSV has one, or the column opts->group_column names),
// the name of its original, and its own name, names compared without folder and extension (so
// "abc.jpg" and an original "abc.mp4" meet). Items sharing any token are joined, transitively:
// a group is a connected component. Hence a fake always lands with its original, whatever the
// group column says. A group's name is the first token of its first item (group value, else
// original, else own name).
#ifndef DFD_DATA_DATASET_H
#define DFD_DATA_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/util/status.h"

typedef enum dfd_label {
    DFD_LABEL_REAL = 0,
    DFD_LABEL_FAKE = 1,
    DFD_LABEL_COUNT
} dfd_label;

// "REAL" or "FAKE"; static string ("?" out of range).
const char *dfd_label_name(dfd_label label);

// Parse a label as described above. DFD_ERR_FORMAT when it is none of them (no message: the
// caller knows the file and line).
dfd_status dfd_label_parse(dfd_label *out, const char *text);

typedef enum dfd_media_kind {
    DFD_MEDIA_VIDEO = 0,
    DFD_MEDIA_IMAGE,
    DFD_MEDIA_KIND_COUNT
} dfd_media_kind;

// The kind of a file by its name (see above); "video" / "image" as names.
dfd_media_kind dfd_media_kind_of(const char *path);
const char *dfd_media_kind_name(dfd_media_kind kind);

// Whether a folder entry looks like a video or image we read (known extensions only; used when
// listing folders, where stray files must not become items).
bool dfd_media_is_known(const char *name);

typedef enum dfd_dataset_format {
    DFD_DATASET_DFDC = 0,
    DFD_DATASET_CSV,
    DFD_DATASET_FOLDERS
} dfd_dataset_format;

// "dfdc", "csv", "folders"; static string.
const char *dfd_dataset_format_name(dfd_dataset_format f);

#define DFD_NO_ITEM SIZE_MAX

// One video or image. Strings are owned by the dataset and live as long as it does.
typedef struct dfd_dataset_item {
    const char *file; // as the dataset names it
    const char *path; // the file to open: the dataset folder joined with `file`
    dfd_label label;
    dfd_media_kind kind;
    const char *original; // the source of a fake as the dataset names it; NULL when none
    const char *method;   // the `method` column; NULL when absent or empty
    const char *split;    // DFDC's "split" field; NULL when absent
    const char *group;    // name of the item's group (never NULL)
    size_t i_group;       // index of the group, 0 .. n_groups - 1
    size_t i_original;    // index of the item `original` names, DFD_NO_ITEM when not here
    size_t line;          // line of the CSV row or metadata.json entry; 0 for folders
    size_t part;          // which dataset of a dfd_dataset_concat it came from (0 otherwise)
} dfd_dataset_item;

typedef struct dfd_dataset {
    dfd_dataset_format format;
    const char *source; // the CSV or metadata.json read, or the folder listed
    const char *root;   // the folder files are relative to
    dfd_dataset_item *items;
    size_t n;
    size_t n_groups;
    bool has_original, has_method, has_group_column; // which optional fields the source has
    void *priv;                                      // storage (string pool); not for callers
} dfd_dataset;

typedef struct dfd_dataset_opts {
    // Group column of a CSV; NULL: `identity_group` when present (else only originals and names).
    // A named column that is absent is DFD_ERR_FORMAT.
    const char *group_column;
    // Check that every listed file exists and is a non-empty regular file (default true).
    bool check_files;
} dfd_dataset_opts;

dfd_dataset_opts dfd_dataset_opts_default(void);

// Read the dataset at `path`: a CSV or metadata.json file, or a folder holding metadata.json,
// else labels.csv, else real/ and fake/. opts NULL means the defaults. *ds is overwritten (free
// it with dfd_dataset_free) and left empty on error.
// Errors, one line naming the file and, for rows, the line ("labels.csv:17: label 'maybe' is
// not REAL, FAKE, 0 or 1"):
//   DFD_ERR_NOT_FOUND  `path` missing; a listed file missing (with its row's line)
//   DFD_ERR_FORMAT     malformed CSV/JSON, missing column, bad label, empty file name, a file
//                      listed twice, no items at all; a listed file that is empty
//   DFD_ERR_INVALID    a folder with none of the three layouts; a listed path that is a folder
//   DFD_ERR_IO, DFD_ERR_NOMEM, DFD_ERR_LIMIT (a CSV or JSON file over 1 GiB)
// Thread-safe (no shared state).
dfd_status dfd_dataset_load(dfd_dataset *ds, const char *path, const dfd_dataset_opts *opts,
                            dfd_error *err);

// Free everything and reset to empty. Accepts NULL and empty datasets.
void dfd_dataset_free(dfd_dataset *ds);

// Several datasets as one (`dfdetect train --data A --data B`): the items of parts[0], then
// parts[1], ..., with their strings copied (out does not borrow from the parts). Groups stay
// apart (group indices are offset, so no group spans two parts); format, source and root are
// the first part's; the has_* flags are any part's. *out is overwritten and left empty on error.
// Errors: DFD_ERR_INVALID (n_parts == 0), DFD_ERR_FORMAT (one file, by path, in two parts:
// it could land on both sides of a split), DFD_ERR_NOMEM.
dfd_status dfd_dataset_concat(dfd_dataset *out, const dfd_dataset *parts, size_t n_parts,
                              dfd_error *err);

// ---- summary ----

typedef struct dfd_dataset_method {
    const char *name; // borrowed from the dataset
    size_t n;
} dfd_dataset_method;

typedef struct dfd_dataset_summary {
    size_t n;
    size_t n_label[DFD_LABEL_COUNT];
    size_t n_kind[DFD_MEDIA_KIND_COUNT];
    size_t n_groups;
    size_t n_groups_mixed;       // groups holding both labels
    size_t max_group;            // items in the largest group
    size_t n_fake_original;      // fakes naming an original
    size_t n_original_found;     // ... whose original is in the dataset
    dfd_dataset_method *methods; // counts per `method` value, most frequent first (ties by
                                 // name); NULL when the dataset has no method column
    size_t n_methods;
} dfd_dataset_summary;

// Count the dataset. *s is overwritten; free with dfd_dataset_summary_free. Errors: DFD_ERR_NOMEM.
dfd_status dfd_dataset_summarize(dfd_dataset_summary *s, const dfd_dataset *ds);
void dfd_dataset_summary_free(dfd_dataset_summary *s); // accepts NULL

#endif
