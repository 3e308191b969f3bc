// The log sink: the only mutable global of the library besides the allocation counters.
#include "dfdetect/util/log.h"

#include <stdarg.h>
#include <stdio.h>

static dfd_log_sink g_sink;
static void *g_sink_ctx;
static dfd_log_level g_min_level = DFD_LOG_WARN;

void dfd_log_set(dfd_log_sink sink, void *ctx, dfd_log_level min_level)
{
    g_sink = sink;
    g_sink_ctx = ctx;
    g_min_level = min_level;
}

bool dfd_log_enabled(dfd_log_level level)
{
    return g_sink != NULL && level >= g_min_level && level < DFD_LOG_NONE;
}

void dfd_log(dfd_log_level level, const char *fmt, ...)
{
    if (!dfd_log_enabled(level)) {
        return;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    g_sink(g_sink_ctx, level, buf);
}

const char *dfd_log_level_str(dfd_log_level level)
{
    switch (level) {
    case DFD_LOG_DEBUG:
        return "debug";
    case DFD_LOG_INFO:
        return "info";
    case DFD_LOG_WARN:
        return "warn";
    case DFD_LOG_ERROR:
        return "error";
    case DFD_LOG_NONE:
        break;
    }
    return "none";
}

void dfd_log_sink_file(void *ctx, dfd_log_level level, const char *msg)
{
    FILE *f = ctx ? (FILE *)ctx : stderr;
    fprintf(f, "dfdetect: %s: %s\n", dfd_log_level_str(level), msg);
}
