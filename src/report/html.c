// The HTML report writer (report/html.h): a growing buffer of escaped markup with a sticky first
// error. The page is deliberately plain: inline CSS, no scripts, images by relative path.
#include "dfdetect/report/html.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

struct dfd_html {
    char *buf;
    size_t len, cap;
    dfd_error first; // the first failure; code DFD_OK while none
};

// The page's head: scripts, frames, plugins and remote styles are forbidden by the policy; images
// may come from the report's folder.
static const char head_fmt[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src * data:; "
    "style-src 'unsafe-inline'\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>%s</title>\n<style>\n"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212121;"
    "max-width:960px;margin:2em auto;padding:0 1em;line-height:1.45}\n"
    "h1{font-size:1.6em;border-bottom:2px solid #1f77b4;padding-bottom:.3em}\n"
    "h2{font-size:1.25em;margin-top:1.8em}\n"
    "table{border-collapse:collapse;margin:1em 0}\n"
    "caption{text-align:left;font-weight:600;padding-bottom:.4em}\n"
    "th,td{border:1px solid #ddd;padding:.35em .8em;text-align:left}\n"
    "th{background:#f3f6fa}\ntd.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "figure{margin:1.2em 0}\nimg{max-width:100%%;height:auto;border:1px solid #eee}\n"
    "figcaption{color:#555;font-size:.9em}\n"
    "</style>\n</head>\n<body>\n<h1>%s</h1>\n";
static const char tail[] = "</body>\n</html>\n";

// ---- buffer ----

static bool failed(const dfd_html *h)
{
    return h->first.code != DFD_OK;
}

static dfd_status fail(dfd_html *h, dfd_status st, const char *msg)
{
    if (!failed(h)) {
        dfd_error_set(&h->first, st, "html report: %s", msg);
    }
    return st;
}

static dfd_status reserve(dfd_html *h, size_t more)
{
    if (h->len + more + 1 <= h->cap) {
        return DFD_OK;
    }
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < h->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            return fail(h, DFD_ERR_NOMEM, "page too large");
        }
        cap *= 2;
    }
    char *p = dfd_realloc(h->buf, cap);
    if (!p) {
        return fail(h, DFD_ERR_NOMEM, "out of memory");
    }
    h->buf = p;
    h->cap = cap;
    return DFD_OK;
}

static dfd_status put(dfd_html *h, const char *s, size_t n)
{
    if (failed(h)) {
        return h->first.code;
    }
    dfd_status st = reserve(h, n);
    if (st) {
        return st;
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return DFD_OK;
}

static dfd_status puts_raw(dfd_html *h, const char *s)
{
    return put(h, s, strlen(s));
}

// The entity for a byte, "" to drop it, or NULL to copy it.
static const char *entity(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    case '\t':
    case '\n':
        return NULL;
    default:
        return c < 0x20 || c == 0x7f ? "" : NULL;
    }
}

// Append text escaped.
static dfd_status put_text(dfd_html *h, const char *s)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *e = *p ? entity((unsigned char)*p) : "";
        if (!*p || e) {
            dfd_status st = put(h, run, (size_t)(p - run));
            if (!st && e) {
                st = puts_raw(h, e);
            }
            if (st || !*p) {
                return st;
            }
            run = p + 1;
        }
    }
}

char *dfd_html_escape_dup(const char *text)
{
    if (!text) {
        return NULL;
    }
    dfd_html tmp = { 0 };
    if (put_text(&tmp, text) || put(&tmp, "", 0)) {
        dfd_free(tmp.buf);
        return NULL;
    }
    return tmp.buf;
}

// Append <tag>escaped text</tag>.
static dfd_status put_element(dfd_html *h, const char *tag, const char *text)
{
    char open[16], close[16];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>\n", tag);
    dfd_status st = puts_raw(h, open);
    if (!st) {
        st = put_text(h, text);
    }
    return st ? st : puts_raw(h, close);
}

// ---- public API ----

dfd_status dfd_html_create(dfd_html **out, const char *title, dfd_error *err)
{
    *out = NULL;
    dfd_html *h = dfd_calloc(1, sizeof *h);
    char *t = dfd_html_escape_dup(title ? title : "dfdetect report");
    dfd_status st = h && t ? reserve(h, 2 * sizeof head_fmt + 2 * strlen(t)) : DFD_ERR_NOMEM;
    if (!st) {
        int n = snprintf(h->buf, h->cap, head_fmt, t, t);
        h->len = n > 0 ? (size_t)n : 0;
    }
    dfd_free(t);
    if (st) {
        dfd_html_destroy(h);
        return dfd_error_set(err, DFD_ERR_NOMEM, "html report: out of memory");
    }
    *out = h;
    return DFD_OK;
}

void dfd_html_destroy(dfd_html *h)
{
    if (h) {
        dfd_free(h->buf);
        dfd_free(h);
    }
}

dfd_status dfd_html_heading(dfd_html *h, const char *text)
{
    return text ? put_element(h, "h2", text) : h->first.code;
}

dfd_status dfd_html_paragraph(dfd_html *h, const char *text)
{
    return text ? put_element(h, "p", text) : h->first.code;
}

// True when the whole cell reads as a number ("0.953", "-3", "1e-5", "12.5%").
static bool is_number(const char *s)
{
    if (!s || !*s) {
        return false;
    }
    char *end;
    (void)strtod(s, &end);
    if (end == s) {
        return false;
    }
    return *end == '\0' || (end[0] == '%' && end[1] == '\0');
}

static dfd_status put_row(dfd_html *h, const char *const *cells, size_t n, bool header)
{
    dfd_status st = puts_raw(h, "<tr>");
    for (size_t c = 0; !st && c < n; c++) {
        const char *text = cells[c] ? cells[c] : "";
        st = puts_raw(h, header ? "<th>" : is_number(text) ? "<td class=\"num\">" : "<td>");
        if (!st) {
            st = put_text(h, text);
        }
        if (!st) {
            st = puts_raw(h, header ? "</th>" : "</td>");
        }
    }
    return st ? st : puts_raw(h, "</tr>\n");
}

dfd_status dfd_html_table(dfd_html *h, const char *caption, const char *const *header,
                          size_t n_cols, const char *const *cells, size_t n_rows)
{
    if (failed(h)) {
        return h->first.code;
    }
    if (n_cols == 0 || (n_rows > 0 && !cells)) {
        return fail(h, DFD_ERR_INVALID, "table without columns or cells");
    }
    dfd_status st = puts_raw(h, "<table>\n");
    if (!st && caption) {
        st = put_element(h, "caption", caption);
    }
    if (!st && header) {
        st = put_row(h, header, n_cols, true);
    }
    for (size_t r = 0; !st && r < n_rows; r++) {
        st = put_row(h, cells + r * n_cols, n_cols, false);
    }
    return st ? st : puts_raw(h, "</table>\n");
}

// A relative path with harmless characters only (see the header).
static bool safe_rel_path(const char *p)
{
    if (!p || !*p || *p == '/') {
        return false;
    }
    for (const char *q = p; *q; q++) {
        char c = *q;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/' || c == ' ';
        if (!ok) {
            return false; // also rejects ':' (schemes) and '\\'
        }
        // ".." as a whole component: at the start or after '/', followed by '/' or the end.
        if ((q == p || q[-1] == '/') && q[0] == '.' && q[1] == '.' && (q[2] == '/' || !q[2])) {
            return false;
        }
    }
    return true;
}

dfd_status dfd_html_image(dfd_html *h, const char *rel_path, const char *alt, const char *caption)
{
    if (failed(h)) {
        return h->first.code;
    }
    if (!safe_rel_path(rel_path)) {
        return fail(h, DFD_ERR_INVALID, "image path is not a plain relative path");
    }
    const char *a = alt ? alt : caption ? caption : rel_path;
    dfd_status st = puts_raw(h, "<figure><img src=\"");
    if (!st) {
        st = put_text(h, rel_path);
    }
    if (!st) {
        st = puts_raw(h, "\" alt=\"");
    }
    if (!st) {
        st = put_text(h, a);
    }
    if (!st) {
        st = puts_raw(h, "\">");
    }
    if (!st && caption) {
        st = put_element(h, "figcaption", caption);
    }
    return st ? st : puts_raw(h, "</figure>\n");
}

const char *dfd_html_text(dfd_html *h)
{
    if (!h || failed(h)) {
        return NULL;
    }
    // Append the closing tags, then step back over them: the text stays NUL-terminated and
    // complete until the next addition overwrites the tail.
    size_t len = h->len;
    if (puts_raw(h, tail)) {
        return NULL;
    }
    h->len = len;
    return h->buf;
}

dfd_status dfd_html_write(dfd_html *h, const char *path, dfd_error *err)
{
    if (!h || !path || !*path) {
        return dfd_error_set(err, DFD_ERR_INVALID, "html report: no output path");
    }
    if (failed(h)) {
        return dfd_error_set(err, h->first.code, "%s: %s", path, h->first.msg);
    }
    const char *text = dfd_html_text(h);
    if (!text) {
        return dfd_error_set(err, h->first.code, "%s: %s", path, h->first.msg);
    }
    return dfd_file_write_atomic(path, text, strlen(text), err);
}
