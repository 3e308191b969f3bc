// A small RFC 4180 CSV tokenizer for dataset lists: quoted fields (with doubled quotes and line
// breaks inside), CRLF or LF line ends, unquoted fields trimmed of spaces and tabs.
#include <string.h>

#include "data_internal.h"
#include "dfdetect/util/alloc.h"

static bool csv_push(data_csv *r, char c)
{
    if (r->n_buf == r->cap_buf) {
        size_t cap = r->cap_buf ? r->cap_buf * 2 : 1024;
        char *nb = dfd_realloc(r->buf, cap);
        if (!nb) {
            return false;
        }
        r->buf = nb;
        r->cap_buf = cap;
    }
    r->buf[r->n_buf++] = c;
    return true;
}

static bool csv_start_field(data_csv *r)
{
    if (r->n_fields == r->cap_fields) {
        size_t cap = r->cap_fields ? r->cap_fields * 2 : 16;
        size_t *no = dfd_realloc(r->offs, cap * sizeof *no);
        if (!no) {
            return false;
        }
        r->offs = no;
        r->cap_fields = cap;
    }
    r->offs[r->n_fields++] = r->n_buf;
    return true;
}

// Strip spaces and tabs around the field that starts at buf[start] and ends at n_buf (unquoted
// fields only).
static void csv_trim(data_csv *r, size_t start)
{
    while (r->n_buf > start && (r->buf[r->n_buf - 1] == ' ' || r->buf[r->n_buf - 1] == '\t')) {
        r->n_buf--;
    }
    size_t lead = 0;
    while (start + lead < r->n_buf &&
           (r->buf[start + lead] == ' ' || r->buf[start + lead] == '\t')) {
        lead++;
    }
    memmove(r->buf + start, r->buf + start + lead, r->n_buf - start - lead);
    r->n_buf -= lead;
}

int data_csv_next(data_csv *r, size_t *rec_line)
{
    r->n_buf = 0;
    r->n_fields = 0;
    if (r->p >= r->end) {
        return 0;
    }
    *rec_line = r->line;
    if (!csv_start_field(r)) {
        return -2;
    }
    bool quoted = false, was_quoted = false;
    for (;;) {
        if (r->p >= r->end) {
            if (quoted) {
                return -1;
            }
            break;
        }
        char c = *r->p++;
        if (quoted) {
            if (c == '"') {
                if (r->p < r->end && *r->p == '"') {
                    r->p++;
                    if (!csv_push(r, '"')) {
                        return -2;
                    }
                } else {
                    quoted = false;
                }
                continue;
            }
            r->line += c == '\n';
            if (!csv_push(r, c)) {
                return -2;
            }
            continue;
        }
        if (c == '"' && !was_quoted) {
            // A quote opens a quoted section only at the start of a field (after spaces).
            size_t start = r->offs[r->n_fields - 1];
            bool blank = true;
            for (size_t i = start; i < r->n_buf; i++) {
                blank = blank && (r->buf[i] == ' ' || r->buf[i] == '\t');
            }
            if (blank) {
                r->n_buf = start;
                quoted = was_quoted = true;
                continue;
            }
        }
        if (c == ',' || c == '\n' || c == '\r') {
            if (!was_quoted) {
                csv_trim(r, r->offs[r->n_fields - 1]);
            }
            if (!csv_push(r, '\0')) {
                return -2;
            }
            if (c == ',') {
                if (!csv_start_field(r)) {
                    return -2;
                }
                was_quoted = false;
                continue;
            }
            if (c == '\r' && r->p < r->end && *r->p == '\n') {
                r->p++;
            }
            r->line++;
            return 1;
        }
        if (was_quoted && c != ' ' && c != '\t') {
            continue; // text after a closing quote: ignored, as most readers do
        }
        if (!was_quoted && !csv_push(r, c)) {
            return -2;
        }
    }
    if (!was_quoted) {
        csv_trim(r, r->offs[r->n_fields - 1]);
    }
    return csv_push(r, '\0') ? 1 : -2;
}

const char *data_csv_field(const data_csv *r, size_t i)
{
    return r->buf + r->offs[i];
}

bool data_csv_blank(const data_csv *r)
{
    return r->n_fields == 1 && data_csv_field(r, 0)[0] == '\0';
}

void data_csv_free(data_csv *r)
{
    dfd_free(r->buf);
    dfd_free(r->offs);
    r->buf = NULL;
    r->offs = NULL;
}
