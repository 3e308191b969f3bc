// A small, self-contained HTML report: a title, headings, paragraphs, tables and figures, written
// as one file that needs nothing else than the images it names (no scripts, no external styles,
// no network). `dfdetect eval --report DIR` writes its metrics table and charts with it;
// `scan --explain` its per-video page.
//
// Safety: every piece of text is HTML-escaped (& < > " ' and control characters), so file names
// or class names from a dataset cannot inject markup; images must be plain relative paths (no
// scheme, no absolute path, no ".." component), checked when added; and the page carries a
// Content-Security-Policy that forbids scripts, so even a bug here cannot make it run code.
//
// Usage: create, add parts in reading order, write, destroy. Adding parts only appends to a
// buffer; the first error (out of memory, a bad image path) is remembered, later additions are
// ignored, and dfd_html_write reports it. Not thread-safe per report; distinct reports are
// independent.
#ifndef DFD_REPORT_HTML_H
#define DFD_REPORT_HTML_H

#include <stddef.h>

#include "dfdetect/util/status.h"

typedef struct dfd_html dfd_html;

// Start a report whose <title> and top <h1> are `title` (NULL: "dfdetect report").
// Errors: DFD_ERR_NOMEM.
dfd_status dfd_html_create(dfd_html **out, const char *title, dfd_error *err);

// Free a report. Accepts NULL.
void dfd_html_destroy(dfd_html *h);

// A section heading (<h2>) / a paragraph of text (<p>). NULL text adds nothing.
dfd_status dfd_html_heading(dfd_html *h, const char *text);
dfd_status dfd_html_paragraph(dfd_html *h, const char *text);

// A table with an optional caption (NULL: none), a header row of n_cols cells (header may be
// NULL: no header row) and n_rows rows of n_cols cells, cells[r * n_cols + c] (NULL cells are
// empty). Cells whose text parses completely as a number are right-aligned.
// Errors: DFD_ERR_INVALID (n_cols == 0, or rows without cells), DFD_ERR_NOMEM.
dfd_status dfd_html_table(dfd_html *h, const char *caption, const char *const *header,
                          size_t n_cols, const char *const *cells, size_t n_rows);

// A figure: the image at `rel_path` (relative to the report file, e.g. "roc.png"), with alt text
// (NULL: the caption or the path) and an optional caption under it.
// Errors: DFD_ERR_INVALID (rel_path empty, absolute, with a scheme such as "javascript:", with a
// ".." component or a backslash, or with characters outside A-Z a-z 0-9 . _ - / and space),
// DFD_ERR_NOMEM.
dfd_status dfd_html_image(dfd_html *h, const char *rel_path, const char *alt, const char *caption);

// The whole page so far plus its closing tags, as a NUL-terminated string owned by h (valid until
// the next call on h). NULL when an earlier addition failed.
const char *dfd_html_text(dfd_html *h);

// Write the page to `path` atomically (util/fileio.h). Errors: the first error of an earlier
// addition (with its message), DFD_ERR_INVALID (NULL/empty path), DFD_ERR_IO, DFD_ERR_NOMEM.
dfd_status dfd_html_write(dfd_html *h, const char *path, dfd_error *err);

// Escape `text` for HTML text and attribute values into a new string that the caller frees with
// dfd_free: & < > " ' become entities, control characters other than tab and newline are
// dropped, everything else (UTF-8 included) is copied. NULL on NOMEM or NULL text.
char *dfd_html_escape_dup(const char *text);

#endif
