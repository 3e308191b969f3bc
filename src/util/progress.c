// Terminal progress bar drawn with a carriage return and erased at the end.
#include "dfdetect/util/progress.h"

#include <string.h>

#include "dfdetect/util/fileio.h"

#define BAR_WIDTH 28

void dfd_progress_begin(dfd_progress *p, FILE *out, const char *label, size_t total, bool enabled)
{
    memset(p, 0, sizeof *p);
    p->out = enabled ? out : NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->t_start = dfd_now();
}

void dfd_progress_update(dfd_progress *p, size_t done)
{
    if (!p->out) {
        return;
    }
    double now = dfd_now();
    bool finished = p->total > 0 && done >= p->total;
    if (!finished && p->drawn && now - p->t_last < 0.1) {
        return;
    }
    p->t_last = now;
    char bar[BAR_WIDTH + 1];
    size_t fill = 0;
    if (p->total > 0) {
        fill = (done >= p->total) ? BAR_WIDTH : done * BAR_WIDTH / p->total;
    }
    for (size_t i = 0; i < BAR_WIDTH; i++) {
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    }
    bar[BAR_WIDTH] = '\0';
    if (p->total > 0) {
        fprintf(p->out, "\r%-10s %5zu/%-5zu [%s] %.1fs", p->label, done, p->total, bar,
                now - p->t_start);
    } else {
        fprintf(p->out, "\r%-10s %5zu %.1fs", p->label, done, now - p->t_start);
    }
    fflush(p->out);
    p->drawn = true;
}

void dfd_progress_callback(void *ctx, size_t done, size_t total)
{
    dfd_progress *p = ctx;
    p->total = total;
    dfd_progress_update(p, done);
}

void dfd_progress_end(dfd_progress *p)
{
    if (p->out && p->drawn) {
        // Erase the line: carriage return, clear to end of line.
        fputs("\r\033[K", p->out);
        fflush(p->out);
    }
    p->drawn = false;
}
